namespace BuildGrid.Gateway.Dialects.Harbor;

internal static class HarborExtensions
{
    /// <summary>The reads an anonymous caller may make; the Registry service shows it only public repositories.</summary>
    internal static void AllowAnonymousReads(Core.Identity.AnonymousAccessOptions options)
    {
        foreach (var method in new[] { "ListProjects", "ListRepositories", "ListTags", "GetManifest", "ListProjectsV2", "GetProjectV2",
                     "ListRepositoriesV2", "GetRepositoryV2", "ListArtifactsV2", "GetArtifactV2", "ListArtifactTagsV2" })
            options.Methods.Add($"/{BuildGrid.Gateway.Harbor.V1.Harbor.Descriptor.FullName}/{method}");
    }

    public static WebApplication MapHarbor(this WebApplication app)
    {
        app.UseDialectErrors<HarborErrors>();
        app.UseDialectErrors<HarborV2Errors>();
        app.MapGrpcService<HarborService>();
        return app;
    }
}
