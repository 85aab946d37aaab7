namespace BuildGrid.Core.Events;

/// <summary>Sends an event to its topic: through Dapr pub/sub, or in-process when standalone.</summary>
public interface IEventPublisher
{
    Task PublishAsync(CloudEvent cloudEvent, CancellationToken cancellationToken);
}
