namespace BuildGrid.Gateway.Dialects.Zadig;

internal static class ZadigExtensions
{
    /// <summary>The one place every zadig call's failures become the dialect's errors (<see cref="ZadigAnswers"/>).</summary>
    public static IServiceCollection AddZadig(this IServiceCollection services)
    {
        services.AddGrpc().AddServiceOptions<ZadigService>(o => o.Interceptors.Add<ZadigAnswers>());
        return services;
    }

    public static WebApplication MapZadig(this WebApplication app)
    {
        app.UseDialectErrors<ZadigErrors>();
        app.MapGrpcService<ZadigService>();
        return app;
    }
}
