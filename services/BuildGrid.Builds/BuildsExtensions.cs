using BuildGrid.Builds.Grpc;
using BuildGrid.Builds.Queue;
using BuildGrid.Builds.Storage;
using BuildGrid.Builds.Worker;
using BuildGrid.Core.Clients;
using BuildGrid.Core.Hosting;
using BuildGrid.Core.Identity;
using BuildGrid.Core.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace BuildGrid.Builds;

public static class BuildsExtensions
{
    public const string AppId = Core.Clients.ServiceAddresses.Builds;

    sealed class Marker;

    /// <summary>
    /// The Builds service: its database (builds.db), the Redis queue, <see cref="BuildsOptions.Workers"/> worker slots and
    /// the reaper. Redis is BUILDGRID_REDIS unless the host registered a <see cref="RedisConnection"/> first (standalone: Garnet).
    /// </summary>
    public static WebApplicationBuilder AddBuilds(this WebApplicationBuilder builder)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(Marker)))
            return builder;
        builder.Services.AddSingleton<Marker>();
        builder.Services.AddOptions<BuildsOptions>().BindConfiguration("Builds").ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<BuildsOptions>, BuildsOptionsValidator>();
        // The host waits for the worker's shutdown grace (and the re-queueing after it) before it gives up on stopping.
        builder.Services.AddOptions<HostOptions>().Configure<IOptions<BuildsOptions>>((host, builds) =>
        {
            var needed = builds.Value.ShutdownGrace + TimeSpan.FromSeconds(5);
            if (host.ShutdownTimeout < needed)
                host.ShutdownTimeout = needed;
        });
        builder.Services.AddServiceDatabase(AppId, typeof(BuildsExtensions).Assembly);
        builder.Services.TryAddSingleton(sp => new RedisConnection(() => sp.GetRequiredService<BuildGridSettings>().Redis
            ?? throw new StartupException("The Builds service needs Redis: set BUILDGRID_REDIS (standalone BuildGrid embeds Garnet).")));
        // Secrets of runs are stored encrypted; every Builds replica of one installation shares the key ring (in SQL).
        builder.Services.AddBuildGridDataProtection(AppId);
        builder.Services.AddSingleton<BuildQueue>();
        builder.Services.AddSingleton<RunStore>();
        builder.Services.AddSingleton<RunLauncher>();
        builder.Services.AddSingleton<DefinitionStore>();
        builder.Services.AddSingleton<LocalSandbox>();
        builder.Services.AddSingleton<RunExecutor>();
        builder.Services.AddSingleton<IRunExecutor>(sp => sp.GetRequiredService<RunExecutor>());
        builder.Services.AddHostedService<SandboxCheck>();
        builder.Services.TryAddSingleton<RegistryTokens>();
        builder.Services.AddSingleton<BuildWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<BuildWorker>());
        builder.Services.AddSingleton<Reaper>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Reaper>());
        builder.Services.AddHostedService<BuildsMetrics>();
        builder.Services.AddBuildGridClient<Projects.V1.Projects.ProjectsClient>("projects");
        return builder;
    }

    public static WebApplication MapBuilds(this WebApplication app)
    {
        if (app.Services.GetService<Marker>() is null)
            throw new InvalidOperationException("Call builder.AddBuilds() before app.MapBuilds().");
        app.MapGrpcService<BuildRunsService>();
        app.MapGrpcService<BuildDefinitionsService>();
        return app;
    }
}
