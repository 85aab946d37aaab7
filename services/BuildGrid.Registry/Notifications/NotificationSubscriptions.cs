using System.Text.Json.Nodes;
using BuildGrid.Core.Events;
using BuildGrid.Events.V1;
using BuildGrid.Registry.Storage;
using Google.Protobuf;
using Microsoft.Extensions.Options;

namespace BuildGrid.Registry.Notifications;

/// <summary>
/// Turns the integration events BuildGrid really produces into notification deliveries. Each handler applies its event
/// once (inbox) and writes the delivery rows in the same transaction, so the chain change → outbox → deliveries →
/// sender loses nothing across restarts.
/// </summary>
internal static class NotificationSubscriptions
{
    public static void MapNotificationSubscriptions(this WebApplication app)
    {
        var store = app.Services.GetRequiredService<NotificationStore>();
        var sender = app.Services.GetRequiredService<NotificationSender>();
        var host = app.Services.GetRequiredService<IOptions<NotificationOptions>>().Value.ServerHostname;

        async Task QueueAsync(CloudEvent cloudEvent, string repository, string @event, Func<NotificationRow, string?> payload,
            Func<System.Data.Common.DbConnection, System.Data.Common.DbTransaction, Task>? also, CancellationToken ct)
        {
            await store.QueueForEventAsync(cloudEvent, repository, @event, payload, also, ct);
            sender.Wake();
        }

        app.MapEventSubscription<ImagePushed>((pushed, cloudEvent, ct) =>
        {
            var body = NotificationEvents.Push(pushed.Repository, host, [pushed.Tag]).ToJsonString();
            return QueueAsync(cloudEvent, pushed.Repository, NotificationEvents.RepoPush, _ => body, null, ct);
        });

        app.MapEventSubscription<TagDeleted>((deleted, cloudEvent, ct) =>
        {
            var body = NotificationEvents.TagDeleted(deleted.Repository, host, deleted.Tag, deleted.Digest).ToJsonString();
            return QueueAsync(cloudEvent, deleted.Repository, NotificationEvents.RepoTagDeleted, _ => body, null, ct);
        });

        app.MapEventSubscription<BuildQueued>(async (queued, cloudEvent, ct) =>
        {
            if (SplitImage(queued.Image) is not var (repository, tag))
                return;
            var data = NotificationEvents.Build(NotificationEvents.BuildQueued, repository, host, queued.RunId, queued.Definition, tag, null, null);
            await QueueAsync(cloudEvent, repository, NotificationEvents.BuildQueued, n => Filtered(n, data, null),
                (connection, tx) => store.RecordBuildRunAsync(connection, tx, queued.RunId, repository, tag, ct), ct);
        });

        app.MapEventSubscription<BuildStarted>(async (started, cloudEvent, ct) =>
        {
            // BuildStarted names no image: the run's repository was recorded when it was queued.
            if (await store.FindBuildRunAsync(started.RunId, ct) is not { } run)
                return;
            var data = NotificationEvents.Build(NotificationEvents.BuildStart, run.Repository, host, started.RunId, started.Definition, run.Tag, null, null);
            await QueueAsync(cloudEvent, run.Repository, NotificationEvents.BuildStart, n => Filtered(n, data, null), null, ct);
        });

        app.MapEventSubscription<BuildFinished>(async (finished, cloudEvent, ct) =>
        {
            var @event = finished.Status switch
            {
                "succeeded" => NotificationEvents.BuildSuccess,
                "failed" or "timed_out" => NotificationEvents.BuildFailure,
                "cancelled" => NotificationEvents.BuildCancelled,
                _ => null,   // requeued: the run goes on
            };
            if (@event is null || SplitImage(finished.Image) is not var (repository, tag))
                return;
            var @ref = finished.Branch.Length > 0 ? "refs/heads/" + finished.Branch : null;
            var data = NotificationEvents.WithOutcome(@event,
                NotificationEvents.Build(@event, repository, host, finished.RunId, finished.Definition, tag, @ref, finished.Commit),
                finished.ImageDigest, finished.FailureReason.Length > 0 ? finished.FailureReason : finished.Status);
            await QueueAsync(cloudEvent, repository, @event, n => Filtered(n, data, @ref), null, ct);
        });
    }

    static string? Filtered(NotificationRow notification, JsonObject data, string? @ref) =>
        NotificationEvents.MatchesRefRegex(notification.EventConfig, @ref) ? data.ToJsonString() : null;

    /// <summary>"[host/]repository:tag" → (repository, tag); null when the image names no repository.</summary>
    internal static (string Repository, string Tag)? SplitImage(string image)
    {
        if (image.Length == 0)
            return null;
        var at = image.IndexOf('@');
        if (at >= 0)
            image = image[..at];
        var slash = image.LastIndexOf('/');
        var colon = image.LastIndexOf(':');
        var (name, tag) = colon > slash ? (image[..colon], image[(colon + 1)..]) : (image, "latest");
        var first = name.IndexOf('/');
        if (first > 0 && (name[..first].Contains('.') || name[..first].Contains(':') || name[..first] == "localhost"))
            name = name[(first + 1)..];
        return name.Length == 0 ? null : (name, tag);
    }
}
