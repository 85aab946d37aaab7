namespace BuildGrid.Gateway.Dialects.Quay;

internal static class QuayExtensions
{
    /// <summary>The reads an anonymous caller may make; the Registry service shows it only public repositories.</summary>
    internal static void AllowAnonymousReads(Core.Identity.AnonymousAccessOptions options)
    {
        foreach (var method in new[] { "ListRepositories", "GetRepository" })
            options.Methods.Add($"/{BuildGrid.Gateway.Quay.V1.Quay.Descriptor.FullName}/{method}");
    }

    public static WebApplication MapQuay(this WebApplication app)
    {
        app.UseDialectErrors<QuayErrors>();
        app.MapGrpcService<QuayService>();
        app.MapGrpcService<QuayIdentityService>();
        return app;
    }
}
