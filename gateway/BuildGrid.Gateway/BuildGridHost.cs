using BuildGrid.Builds;
using BuildGrid.Builds.Queue;
using BuildGrid.Containers;
using BuildGrid.Core.Clients;
using BuildGrid.Core.Hosting;
using BuildGrid.Gateway.Hosting;
using BuildGrid.Identity;
using BuildGrid.Projects;
using BuildGrid.Registry;

namespace BuildGrid.Gateway;

/// <summary>
/// The gateway process. With no service addresses and no Dapr sidecar it is standalone BuildGrid: it also hosts every
/// service and an embedded Garnet. A service with an address (BUILDGRID_PROJECTS_URL, BUILDGRID_CONTAINERS_URL, BUILDGRID_IDENTITY_URL, ...) or behind Dapr is called
/// there instead of being hosted here.
/// </summary>
public static class BuildGridHost
{
    /// <param name="args">Command-line configuration (<c>--BUILDGRID_REST_URL=...</c>), over the environment.</param>
    /// <param name="configure">Extra composition (tests add log sinks here).</param>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = BuildGridDefaults.CreateBuilder(args);
        // The all-in-one process serves every API: where the build sandbox cannot run (a machine with only the .NET SDK),
        // it starts anyway and each run fails saying what is missing, instead of the whole of BuildGrid refusing to start.
        // First source: any configuration overrides it.
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?> { ["Builds:WithoutSandbox"] = "fail-runs" },
        });
        configure?.Invoke(builder);
        builder.AddBuildGridDefaults();
        var settings = BuildGridSettings.From(builder.Configuration);
        if (settings.Redis is null && !settings.DaprEnabled)
        {
            // Registered first, so Garnet is up before any service's background work connects to it.
            builder.Services.AddSingleton<EmbeddedGarnet>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<EmbeddedGarnet>());
            builder.Services.AddSingleton(sp => new RedisConnection(() => sp.GetRequiredService<EmbeddedGarnet>().ConnectionString));
        }
        var hostProjects = !ServiceAddresses.IsRemote(builder.Configuration, ProjectsExtensions.AppId);
        if (hostProjects)
            builder.AddProjects();
        var hostContainers = !ServiceAddresses.IsRemote(builder.Configuration, ContainersExtensions.AppId);
        if (hostContainers)
            builder.AddContainers();
        var hostBuilds = !ServiceAddresses.IsRemote(builder.Configuration, BuildsExtensions.AppId);
        if (hostBuilds)
            builder.AddBuilds();
        // The registry's /v2/ API is plain HTTP on the REST listener: standalone serves it from this process.
        var hostRegistry = !ServiceAddresses.IsRemote(builder.Configuration, RegistryExtensions.AppId);
        if (hostRegistry)
            builder.AddRegistry();
        else
            builder.Services.AddRegistryForwarding();
        var hostIdentity = !ServiceAddresses.IsRemote(builder.Configuration, IdentityExtensions.AppId);
        if (hostIdentity)
            builder.AddIdentity();
        builder.AddGateway();

        var app = builder.Build();
        // Hand-written clients send "/api/project/new " (seed 000 does): the trailing space is not part of the route.
        app.Use((context, next) =>
        {
            if (context.Request.Path.Value is { } path && path.Length > 1 && char.IsWhiteSpace(path[^1]))
                context.Request.Path = new PathString(path.TrimEnd());
            return next(context);
        });
        app.UseRouting();
        app.MapBuildGridDefaults();
        if (hostProjects)
            app.MapProjects();
        if (hostContainers)
            app.MapContainers();
        if (hostBuilds)
            app.MapBuilds();
        if (hostRegistry)
            app.MapRegistry();
        else
            app.MapRegistryForwarding();
        if (hostIdentity)
            app.MapIdentity();
        app.MapGateway();
        return app;
    }
}
