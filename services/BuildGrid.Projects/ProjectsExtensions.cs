using BuildGrid.Core.Events;
using BuildGrid.Core.Networking;
using BuildGrid.Core.Storage;
using BuildGrid.Events.V1;
using BuildGrid.Projects.Domain;
using BuildGrid.Projects.Domain.Plugins;
using BuildGrid.Projects.Grpc;
using BuildGrid.Projects.Storage;
using Microsoft.Extensions.Options;

namespace BuildGrid.Projects;

public static class ProjectsExtensions
{
    public const string AppId = Core.Clients.ServiceAddresses.Projects;

    sealed class Marker;

    /// <summary>The Projects service: its database (projects.db), plugins and gRPC API.</summary>
    public static WebApplicationBuilder AddProjects(this WebApplicationBuilder builder)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(Marker)))
            return builder;
        builder.Services.AddSingleton<Marker>();
        builder.Services.AddServiceDatabase(AppId, typeof(ProjectsExtensions).Assembly);
        builder.Services.AddSingleton<ProjectStore>();
        builder.Services.AddOptions<ProjectsOptions>().BindConfiguration(ProjectsOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ProjectsOptions>, ProjectsOptionsValidator>();
        builder.Services.AddKeyedSingleton(ProjectsOptions.Downloads, (sp, _) => new NetworkPolicy(
            sp.GetRequiredService<IOptions<ProjectsOptions>>().Value.AllowedNetworks, ProjectsOptions.Section + ":AllowedNetworks"));
        builder.Services.AddSingleton(sp => new PluginRegistry(
        [
            new BaseImagePlugin(), new PackagesPlugin(), new EnvPlugin(), new RunPlugin(), new WorkdirPlugin(),
            new CopyFilePlugin(), new DownloadFilePlugin(sp.GetRequiredKeyedService<NetworkPolicy>(ProjectsOptions.Downloads)),
            new ExposePlugin(), new LabelPlugin(), new UserPlugin(), new EntrypointPlugin(), new CmdPlugin(),
        ]));
        builder.Services.AddSingleton<DockerfileRenderer>();
        builder.Services.AddSingleton<ContextArchives>();
        return builder;
    }

    public static WebApplication MapProjects(this WebApplication app)
    {
        if (app.Services.GetService<Marker>() is null)
            throw new InvalidOperationException("Call builder.AddProjects() before app.MapProjects().");
        app.MapGrpcService<ProjectsService>();
        // A finished build (requeued attempts aside) becomes the project's last build.
        var store = app.Services.GetRequiredService<ProjectStore>();
        app.MapEventSubscription<BuildFinished>(async (build, cloudEvent, cancellationToken) =>
        {
            if (build.Project.Length > 0 && build.Status != "requeued")
                await store.RecordBuildAsync(cloudEvent, build, cancellationToken);
        });
        return app;
    }
}
