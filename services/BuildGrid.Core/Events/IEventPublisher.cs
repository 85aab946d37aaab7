namespace BuildGrid.Core.Events;

/// <summary>Sends an event to its topic: through Dapr pub/sub, or in-process when standalone.</summary>
public interface IEventPublisher
{
    Task PublishAsync(CloudEvent cloudEvent, CancellationToken cancellationToken);

    /// <summary>
    /// How many times the bus has lost events it had already taken (a Redis that came back without its data). An
    /// outbox relay that sees this change marks what it sent in the last <see cref="ReplayWindow"/> unsent again.
    /// Dapr and the in-process bus never lose a taken event: they keep 0.
    /// </summary>
    int Losses => 0;

    /// <summary>How far back a relay publishes again after a loss: the longest an event waits on the bus for its subscriber.</summary>
    TimeSpan ReplayWindow => TimeSpan.Zero;
}
