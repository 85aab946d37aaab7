using Dapr.Client;

namespace BuildGrid.Core.Events;

/// <summary>Publishes through the Dapr sidecar, sending the CloudEvent envelope itself (Dapr passes it through).</summary>
public sealed class DaprEventPublisher(DaprClient dapr, string pubSubName) : IEventPublisher
{
    public async Task PublishAsync(CloudEvent cloudEvent, CancellationToken cancellationToken) =>
        await dapr.PublishByteEventAsync(pubSubName, cloudEvent.Topic, cloudEvent.ToEnvelope(),
            "application/cloudevents+json", cancellationToken: cancellationToken);
}
