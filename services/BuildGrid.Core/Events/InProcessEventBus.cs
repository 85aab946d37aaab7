using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace BuildGrid.Core.Events;

/// <summary>
/// Standalone mode's pub/sub: delivers each event to the handlers subscribed to its topic, in this process.
/// A failing handler fails the publish, so the outbox retries it (handlers must be idempotent, as with Dapr).
/// </summary>
public sealed class InProcessEventBus(ILogger<InProcessEventBus> logger) : IEventPublisher
{
    readonly ConcurrentDictionary<string, ImmutableHandlers> handlers = new();

    sealed record ImmutableHandlers(IReadOnlyList<Func<CloudEvent, CancellationToken, Task>> Items);

    public IDisposable Subscribe(string topic, Func<CloudEvent, CancellationToken, Task> handler)
    {
        handlers.AddOrUpdate(topic, _ => new([handler]), (_, list) => new([.. list.Items, handler]));
        return new Unsubscriber(() => handlers.AddOrUpdate(topic, _ => new([]),
            (_, list) => new(list.Items.Where(h => h != handler).ToList())));
    }

    public async Task PublishAsync(CloudEvent cloudEvent, CancellationToken cancellationToken)
    {
        if (!handlers.TryGetValue(cloudEvent.Topic, out var list))
            return;
        foreach (var handler in list.Items)
        {
            try
            {
                await handler(cloudEvent, cancellationToken);
            }
            catch (Exception e)
            {
                Log.SubscriberFailed(logger, cloudEvent.Topic, cloudEvent.Id, e);
                throw;
            }
        }
    }

    sealed class Unsubscriber(Action action) : IDisposable
    {
        int disposed;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) == 0)
                action();
        }
    }
}
