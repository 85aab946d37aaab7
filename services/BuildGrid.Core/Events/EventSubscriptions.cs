using BuildGrid.Core.Hosting;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace BuildGrid.Core.Events;

/// <summary>
/// Subscribing to an integration event the same way in every run mode: in standalone mode on the in-process bus (fed
/// by the <see cref="RedisEventBus"/> when services are separate processes without a sidecar), with a Dapr sidecar
/// through Dapr's gRPC AppCallback (<see cref="DaprAppCallback"/>: ListTopicSubscriptions and OnTopicEvent, from the
/// sidecar only). A handler that throws makes the delivery fail, so it is retried (by the outbox relay in-process, by
/// Dapr otherwise): handlers must be idempotent — see <see cref="Inbox"/>.
/// </summary>
public static class EventSubscriptions
{
    public static string DeadLetterTopic(string topic) => topic + ".deadletter";

    /// <summary>
    /// BuildGrid's own subscribers of each topic, by app id (<see cref="Clients.ServiceAddresses.AppIds"/>): what each
    /// service's <c>MapX</c> subscribes to. Between processes without a sidecar, an event of these topics waits for these
    /// subscribers even before they first registered, so it is never marked sent while no subscriber took it.
    /// <see cref="MapEventSubscription"/> refuses to subscribe an app id this table does not name.
    /// </summary>
    static readonly Dictionary<string, string[]> OwnSubscribers = new(StringComparer.Ordinal)
    {
        ["buildgrid.audit.recorded"] = ["identity"],
        ["buildgrid.build.queued"] = ["registry"],
        ["buildgrid.build.started"] = ["registry"],
        ["buildgrid.build.finished"] = ["projects", "containers", "registry"],
        ["buildgrid.image.pushed"] = ["registry"],
        ["buildgrid.tag.deleted"] = ["registry"],
    };

    /// <summary>The app ids of BuildGrid's own subscribers of <paramref name="topic"/> (none for topics only others consume).</summary>
    public static IReadOnlyList<string> SubscribersOf(string topic) => OwnSubscribers.TryGetValue(topic, out var apps) ? apps : [];

    static readonly JsonParser DataParser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    /// <summary>
    /// Subscribes to the topic of <typeparamref name="TMessage"/> (named as publishers name it, <see cref="Topics.For"/>)
    /// and hands the handler the parsed event data.
    /// </summary>
    public static WebApplication MapEventSubscription<TMessage>(this WebApplication app, Func<TMessage, CloudEvent, CancellationToken, Task> handler)
        where TMessage : IMessage<TMessage>, new() =>
        app.MapEventSubscription(Topics.For(new TMessage().Descriptor),
            (cloudEvent, cancellationToken) => handler(DataParser.Parse<TMessage>(cloudEvent.Data), cloudEvent, cancellationToken));

    public static WebApplication MapEventSubscription(this WebApplication app, string topic, Func<CloudEvent, CancellationToken, Task> handler)
    {
        var settings = app.Services.GetRequiredService<BuildGridSettings>();
        if (!settings.DaprEnabled)
        {
            // The handlers live on the local bus; between processes, the Redis bus feeds it this topic's events.
            app.Services.GetRequiredService<InProcessEventBus>().Subscribe(topic, handler);
            if (app.Services.GetService<RedisEventBus>() is { } bus)
            {
                if (Clients.ServiceAddresses.AppIds.Contains(bus.AppId) && !SubscribersOf(topic).Contains(bus.AppId))
                    throw new InvalidOperationException($"{bus.AppId} subscribes to {topic}: add it to EventSubscriptions.OwnSubscribers, " +
                        "so that its events wait for it while it is down.");
                bus.Listen(topic);
            }
            return app;
        }
        // With a sidecar (app-protocol grpc): daprd learns the topic from AppCallback/ListTopicSubscriptions and delivers
        // by OnTopicEvent (DaprAppCallback, mapped by MapBuildGridDefaults).
        app.Services.GetRequiredService<DaprSubscriptionTable>().Add(topic, handler);
        return app;
    }
}
