using System.Text.Json;
using System.Text.Json.Nodes;
using Dapr.Client;

namespace BuildGrid.Core.Events;

/// <summary>Publishes through the Dapr sidecar, sending the CloudEvent envelope itself (Dapr passes it through).</summary>
public sealed class DaprEventPublisher(DaprClient dapr, string pubSubName) : IEventPublisher
{
    public async Task PublishAsync(CloudEvent cloudEvent, CancellationToken cancellationToken)
    {
        var envelope = new JsonObject
        {
            ["specversion"] = CloudEvent.SpecVersion,
            ["id"] = cloudEvent.Id,
            ["source"] = cloudEvent.Source,
            ["type"] = cloudEvent.Type,
            ["time"] = cloudEvent.Time.ToString("O"),
            ["datacontenttype"] = CloudEvent.DataContentType,
            ["topic"] = cloudEvent.Topic,
            ["data"] = JsonNode.Parse(cloudEvent.Data),
        };
        if (cloudEvent.TraceParent is { } traceParent)
            envelope["traceparent"] = traceParent;
        await dapr.PublishByteEventAsync(pubSubName, cloudEvent.Topic, JsonSerializer.SerializeToUtf8Bytes(envelope),
            "application/cloudevents+json", cancellationToken: cancellationToken);
    }
}
