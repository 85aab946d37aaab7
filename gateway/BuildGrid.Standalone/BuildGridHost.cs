using BuildGrid.Builds;
using BuildGrid.Containers;
using BuildGrid.Core.Clients;
using BuildGrid.Core.Hosting;
using BuildGrid.Gateway;
using BuildGrid.Gateway.Hosting;
using BuildGrid.Identity;
using BuildGrid.Projects;
using BuildGrid.Registry;

namespace BuildGrid.Standalone;

/// <summary>
/// Standalone BuildGrid: the gateway (<see cref="GatewayHost"/>'s parts) with every service hosted in this process and
/// called in-process, and an embedded Garnet as the build queue's Redis. A service with an address
/// (BUILDGRID_PROJECTS_URL, BUILDGRID_CONTAINERS_URL, BUILDGRID_IDENTITY_URL, ...) or behind Dapr is called there instead
/// of being hosted here, so one process can also host a subset beside remote services.
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
        builder.AddFrontPorch();

        var app = builder.Build();
        app.UseFrontPorchRouting();
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
        app.MapFrontPorch();
        return app;
    }
}
