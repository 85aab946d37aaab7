using System.Text.Json;
using BuildGrid.Core.Hosting;
using Dapr;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace BuildGrid.Core.Events;

/// <summary>
/// Subscribing to an integration event the same way in every run mode: in standalone mode on the in-process bus (fed
/// by the <see cref="RedisEventBus"/> when services are separate processes without a sidecar), with
/// a Dapr sidecar as a topic route (<c>POST /events/{topic}</c>, declared to the sidecar by <c>/dapr/subscribe</c>) that
/// takes the CloudEvent envelope as BuildGrid published it, from the sidecar only (<see cref="DaprAppGuard"/>). A handler that throws makes the delivery fail, so it is
/// retried (by the outbox relay in-process, by Dapr otherwise): handlers must be idempotent — see <see cref="Inbox"/>.
/// </summary>
public static class EventSubscriptions
{
    const string SubscribeHandlerMapped = "buildgrid:dapr-subscribe-mapped";

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
        if (!((IApplicationBuilder)app).Properties.ContainsKey(SubscribeHandlerMapped))
        {
            ((IApplicationBuilder)app).Properties[SubscribeHandlerMapped] = true;
            app.MapSubscribeHandler();
        }
        var guard = ActivatorUtilities.GetServiceOrCreateInstance<DaprAppGuard>(app.Services);
        app.MapPost($"/events/{topic}", async (HttpContext context) =>
        {
            // Only the sidecar delivers: a forged CloudEvent from anyone else never reaches the handler.
            if (guard.Refuse(context) is { } refusal)
                return refusal;
            CloudEvent cloudEvent;
            try
            {
                using var envelope = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
                var root = envelope.RootElement;
                cloudEvent = new CloudEvent(
                    root.GetProperty("id").GetString()!,
                    root.TryGetProperty("source", out var source) ? source.GetString() ?? "" : "",
                    root.TryGetProperty("type", out var type) ? type.GetString() ?? "" : "",
                    topic,
                    root.TryGetProperty("time", out var time) && time.TryGetDateTimeOffset(out var at) ? at : DateTimeOffset.UtcNow,
                    root.GetProperty("data").GetRawText(),
                    root.TryGetProperty("traceparent", out var trace) ? trace.GetString() : null);
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                // Not a CloudEvent we can read: tell Dapr to drop it (to the dead-letter topic) rather than retry forever.
                return Results.Json(new { status = "DROP" });
            }
            try
            {
                await handler(cloudEvent, context.RequestAborted);
            }
            catch (InvalidProtocolBufferException)
            {
                // Data that is not the topic's message never will be: dead-letter it instead of retrying forever.
                return Results.Json(new { status = "DROP" });
            }
            return Results.Json(new { status = "SUCCESS" });
        }).WithTopic(new TopicOptions
        {
            PubsubName = EventsExtensions.PubSubName,
            Name = topic,
            // What keeps failing after Dapr's retries (resiliency policy) is kept, not lost: <topic>.deadletter.
            DeadLetterTopic = DeadLetterTopic(topic),
        });
        return app;
    }
}
