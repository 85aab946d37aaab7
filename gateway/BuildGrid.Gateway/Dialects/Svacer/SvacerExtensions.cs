namespace BuildGrid.Gateway.Dialects.Svacer;

internal static class SvacerExtensions
{
    public static WebApplication MapSvacer(this WebApplication app)
    {
        app.UseDialectErrors<SvacerErrors>();
        app.MapGrpcService<SvacerService>();
        return app;
    }
}
