using System.Collections.Concurrent;
using Dapr.AppCallback.Autogen.Grpc.v1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Sdk = CloudNative.CloudEvents;

namespace BuildGrid.Core.Events;

/// <summary>The topics this process subscribes to with a Dapr sidecar, and their handlers (filled by <see cref="EventSubscriptions"/>).</summary>
public sealed class DaprSubscriptionTable
{
    readonly ConcurrentDictionary<string, Func<CloudEvent, CancellationToken, Task>> handlers = new(StringComparer.Ordinal);

    /// <summary>
    /// Adds a handler of <paramref name="topic"/>. Where one process hosts several services (the standalone host with a
    /// sidecar), each service subscribes on its own: one delivery runs them in turn, and a redelivery after one failed
    /// is harmless because each applies an event once in its own database (<see cref="Inbox"/>).
    /// </summary>
    internal void Add(string topic, Func<CloudEvent, CancellationToken, Task> handler) =>
        handlers.AddOrUpdate(topic, handler, (_, previous) => async (cloudEvent, cancellationToken) =>
        {
            await previous(cloudEvent, cancellationToken);
            await handler(cloudEvent, cancellationToken);
        });

    public IReadOnlyCollection<string> Topics => [.. handlers.Keys.Order(StringComparer.Ordinal)];

    internal Func<CloudEvent, CancellationToken, Task>? HandlerOf(string topic) => handlers.GetValueOrDefault(topic);
}

/// <summary>
/// Dapr's AppCallback (<c>dapr.proto.runtime.v1.AppCallback</c>) on the gRPC listener: what a sidecar with
/// <c>app-protocol: grpc</c> calls. At its start daprd asks <c>ListTopicSubscriptions</c> (each topic of
/// <see cref="DaprSubscriptionTable"/> on <c>buildgrid-pubsub</c>, dead letters to <c>&lt;topic&gt;.deadletter</c>), then
/// delivers every event by <c>OnTopicEvent</c> and acts on the answer:
/// <list type="bullet">
/// <item>SUCCESS — the handler applied it (or had already: handlers are idempotent, <see cref="Inbox"/>);</item>
/// <item>DROP — it can never be applied (no id, a topic not subscribed, data that is not the topic's message): daprd
/// moves it to the dead-letter topic instead of retrying forever;</item>
/// <item>RETRY — the handler failed (a database or service briefly away): daprd delivers it again under the resiliency
/// policy (<c>dapr/components/resiliency.yaml</c>), then dead-letters it.</item>
/// </list>
/// Only the sidecar may call it (<see cref="DaprAppGuard"/>). Service invocation needs nothing here: daprd proxies a
/// gRPC call with <c>dapr-app-id</c> metadata to the app's gRPC port as it is.
/// </summary>
public sealed class DaprAppCallback(DaprSubscriptionTable table, DaprAppGuard guard, TimeProvider time, ILogger<DaprAppCallback> logger)
    : AppCallback.AppCallbackBase
{
    static readonly TopicEventResponse Success = new() { Status = TopicEventResponse.Types.TopicEventResponseStatus.Success };
    static readonly TopicEventResponse Retry = new() { Status = TopicEventResponse.Types.TopicEventResponseStatus.Retry };
    static readonly TopicEventResponse Drop = new() { Status = TopicEventResponse.Types.TopicEventResponseStatus.Drop };

    /// <summary>The full names of AppCallback's methods, which the sidecar reaches without BuildGrid credentials.</summary>
    public static IEnumerable<string> MethodNames =>
        AppCallback.Descriptor.Methods.Select(m => $"/{AppCallback.Descriptor.FullName}/{m.Name}")
            .Concat(AppCallbackHealthCheck.Descriptor.Methods.Select(m => $"/{AppCallbackHealthCheck.Descriptor.FullName}/{m.Name}"));

    public override Task<ListTopicSubscriptionsResponse> ListTopicSubscriptions(Empty request, ServerCallContext context)
    {
        guard.Check(context);
        var response = new ListTopicSubscriptionsResponse();
        foreach (var topic in table.Topics)
            response.Subscriptions.Add(new TopicSubscription
            {
                PubsubName = EventsExtensions.PubSubName,
                Topic = topic,
                DeadLetterTopic = EventSubscriptions.DeadLetterTopic(topic),
            });
        return Task.FromResult(response);
    }

    public override Task<ListInputBindingsResponse> ListInputBindings(Empty request, ServerCallContext context)
    {
        guard.Check(context);
        return Task.FromResult(new ListInputBindingsResponse());
    }

    public override async Task<TopicEventResponse> OnTopicEvent(TopicEventRequest request, ServerCallContext context)
    {
        guard.Check(context);
        if (request.PubsubName != EventsExtensions.PubSubName || table.HandlerOf(request.Topic) is not { } handler)
            return Dropped(request, $"not subscribed to {request.PubsubName}/{request.Topic}");
        if (request.Id.Length == 0 || request.Data.IsEmpty)
            return Dropped(request, "no id or no data");
        var cloudEvent = CloudEvent.From(Received(request, context), request.Topic, time);
        try
        {
            await handler(cloudEvent, context.CancellationToken);
            return Success;
        }
        catch (InvalidProtocolBufferException e)
        {
            // Data that is not the topic's message never will be: dead-letter it instead of retrying forever.
            return Dropped(request, e.Message);
        }
        catch (Exception e) when (e is not OperationCanceledException || !context.CancellationToken.IsCancellationRequested)
        {
            Log.DaprDeliveryFailed(logger, request.Id, request.Topic, e);
            return Retry;
        }
    }

    /// <summary>
    /// The CloudEvent daprd split into the request: the core attributes as fields, the others (time, traceparent, ...)
    /// as extensions, read with the SDK's own attribute rules as an envelope would be. An attribute the SDK cannot take
    /// (a time that is not RFC 3339, a name CloudEvents does not allow) is left out, as if it had not been sent.
    /// </summary>
    static Sdk.CloudEvent Received(TopicEventRequest request, ServerCallContext context)
    {
        var cloudEvent = new Sdk.CloudEvent(Sdk.CloudEventsSpecVersion.V1_0)
        {
            Id = request.Id,
            // The data as daprd forwards it: the JSON text the publisher put in the envelope.
            Data = request.Data.ToStringUtf8(),
        };
        if (request.Type.Length > 0)
            cloudEvent.Type = request.Type;
        if (Uri.TryCreate(request.Source, UriKind.RelativeOrAbsolute, out var source) && request.Source.Length > 0)
            cloudEvent.Source = source;
        foreach (var (name, value) in request.Extensions?.Fields ?? Enumerable.Empty<KeyValuePair<string, Value>>())
        {
            if (value.KindCase != Value.KindOneofCase.StringValue || name == "datacontenttype" || cloudEvent.GetAttribute(name) is { IsRequired: true })
                continue;
            try
            {
                cloudEvent.SetAttributeFromString(name, value.StringValue);
            }
            catch (Exception e) when (e is ArgumentException or FormatException)
            {
                // Left out: the handler gets what it would get had daprd not sent it.
            }
        }
        if (cloudEvent["traceparent"] is null && context.RequestHeaders.GetValue("traceparent") is { } traceParent)
            cloudEvent["traceparent"] = traceParent;
        return cloudEvent;
    }

    TopicEventResponse Dropped(TopicEventRequest request, string reason)
    {
        Log.DaprDeliveryDropped(logger, request.Id, request.Topic, reason);
        return Drop;
    }
}

/// <summary>Dapr's app health check over gRPC (<c>AppCallbackHealthCheck</c>): daprd pauses deliveries while the app does not answer.</summary>
public sealed class DaprAppHealthCheck(DaprAppGuard guard) : AppCallbackHealthCheck.AppCallbackHealthCheckBase
{
    public override Task<HealthCheckResponse> HealthCheck(Empty request, ServerCallContext context)
    {
        guard.Check(context);
        return Task.FromResult(new HealthCheckResponse());
    }
}
