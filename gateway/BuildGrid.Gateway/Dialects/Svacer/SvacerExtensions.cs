namespace BuildGrid.Gateway.Dialects.Svacer;

internal static class SvacerExtensions
{
    /// <summary>Paths the svacer dialect owns: their errors are answered in its shape.</summary>
    static readonly string[] Prefixes = ["/api/public"];

    public static WebApplication MapSvacer(this WebApplication app)
    {
        app.UseDialectErrors(Prefixes, SvacerErrors.WriteAsync);
        app.MapGrpcService<SvacerService>();
        return app;
    }
}
