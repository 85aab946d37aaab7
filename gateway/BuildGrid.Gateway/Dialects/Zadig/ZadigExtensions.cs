namespace BuildGrid.Gateway.Dialects.Zadig;

internal static class ZadigExtensions
{
    /// <summary>Paths the zadig dialect owns: their errors are answered in its shape.</summary>
    static readonly string[] Prefixes = ["/openapi/build"];

    public static WebApplication MapZadig(this WebApplication app)
    {
        app.UseDialectErrors(Prefixes, ZadigErrors.WriteAsync);
        app.MapGrpcService<ZadigService>();
        return app;
    }
}
