namespace BuildGrid.Gateway.Dialects.Zadig;

internal static class ZadigExtensions
{
    public static WebApplication MapZadig(this WebApplication app)
    {
        app.UseDialectErrors<ZadigErrors>();
        app.MapGrpcService<ZadigService>();
        return app;
    }
}
