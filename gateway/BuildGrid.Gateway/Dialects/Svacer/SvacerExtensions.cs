namespace BuildGrid.Gateway.Dialects.Svacer;

internal static class SvacerExtensions
{
    /// <summary>The one place every svacer call's failures become the dialect's errors (<see cref="SvacerAnswers"/>).</summary>
    public static IServiceCollection AddSvacer(this IServiceCollection services)
    {
        services.AddGrpc().AddServiceOptions<SvacerService>(o => o.Interceptors.Add<SvacerAnswers>());
        return services;
    }

    public static WebApplication MapSvacer(this WebApplication app)
    {
        app.UseDialectErrors<SvacerErrors>();
        app.MapGrpcService<SvacerService>();
        return app;
    }
}
