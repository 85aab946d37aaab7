using BuildGrid.Containers.Grpc;
using BuildGrid.Containers.Storage;
using BuildGrid.Core.Events;
using BuildGrid.Core.Storage;
using BuildGrid.Events.V1;

namespace BuildGrid.Containers;

public static class ContainersExtensions
{
    public const string AppId = Core.Clients.ServiceAddresses.Containers;

    sealed class Marker;

    /// <summary>The Containers service: its database (containers.db) and gRPC API.</summary>
    public static WebApplicationBuilder AddContainers(this WebApplicationBuilder builder)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(Marker)))
            return builder;
        builder.Services.AddSingleton<Marker>();
        builder.Services.AddServiceDatabase(AppId, typeof(ContainersExtensions).Assembly);
        builder.Services.AddSingleton<ContainerStore>();
        builder.Services.AddSingleton<SnapshotStore>();
        return builder;
    }

    public static WebApplication MapContainers(this WebApplication app)
    {
        if (app.Services.GetService<Marker>() is null)
            throw new InvalidOperationException("Call builder.AddContainers() before app.MapContainers().");
        app.MapGrpcService<ContainersService>();
        // A succeeded build of a project's branch records a snapshot on the matching container branch.
        var snapshots = app.Services.GetRequiredService<SnapshotStore>();
        app.MapEventSubscription<BuildFinished>(async (build, cloudEvent, cancellationToken) =>
        {
            if (build.Status == "succeeded" && build.Project.Length > 0 && build.Branch.Length > 0)
                await snapshots.RecordBuildAsync(cloudEvent, build, cancellationToken);
        });
        return app;
    }
}
