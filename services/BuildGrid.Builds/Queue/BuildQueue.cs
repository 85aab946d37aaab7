using BuildGrid.Core.Hosting;
using StackExchange.Redis;

namespace BuildGrid.Builds.Queue;

/// <summary>
/// The hot path of the build queue, on Redis 7 or Garnet alike (lists and pub/sub only: no streams, no Lua). A run id
/// is LPUSHed when queued and RPOPed by a worker, which then claims it in SQL; SQL decides ownership, so a duplicate
/// or lost entry costs time, never correctness (the reaper re-pushes what Redis lost). Pub/sub wakes idle workers,
/// carries cancel requests to the worker that runs a build, and tells log watchers that new lines are stored.
/// A cancel request is sealed with the installation's key (<see cref="SignedMessages"/>): a forged
/// <c>PUBLISH buildgrid:builds:cancel &lt;id&gt;</c> is logged and ignored. (The queue itself holds only run ids that SQL
/// decides about; a wake-up or a log tick only makes someone look at SQL.)
/// </summary>
public sealed class BuildQueue(RedisConnection redis, SignedMessages signing)
{
    const string Prefix = "buildgrid:builds:";
    static readonly RedisKey QueueKey = Prefix + "queue";
    static readonly RedisChannel WakeChannel = RedisChannel.Literal(Prefix + "wake");
    static readonly RedisChannel CancelChannel = RedisChannel.Literal(Prefix + "cancel");
    static RedisChannel LogChannel(string runId) => RedisChannel.Literal(Prefix + "log:" + runId);

    async Task<IDatabase> DatabaseAsync(CancellationToken cancellationToken) => (await redis.GetAsync(cancellationToken)).GetDatabase();
    async Task<ISubscriber> SubscriberAsync(CancellationToken cancellationToken) => (await redis.GetAsync(cancellationToken)).GetSubscriber();

    /// <summary>At the back of the line.</summary>
    public async Task EnqueueAsync(string runId, CancellationToken cancellationToken)
    {
        // Pipelined: one round trip. Commands on one connection run in order, so a woken worker finds the id.
        var db = await DatabaseAsync(cancellationToken);
        await Task.WhenAll(db.ListLeftPushAsync(QueueKey, runId), db.PublishAsync(WakeChannel, runId));
    }

    /// <summary>At the front of the line: a retried run has waited already.</summary>
    public async Task RequeueAsync(string runId, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync(cancellationToken);
        await Task.WhenAll(db.ListRightPushAsync(QueueKey, runId), db.PublishAsync(WakeChannel, runId));
    }

    public async Task<string?> DequeueAsync(CancellationToken cancellationToken)
    {
        var value = await (await DatabaseAsync(cancellationToken)).ListRightPopAsync(QueueKey);
        return value.IsNullOrEmpty ? null : value.ToString();
    }

    public async Task<long> LengthAsync(CancellationToken cancellationToken) => await (await DatabaseAsync(cancellationToken)).ListLengthAsync(QueueKey);

    public async Task OnWakeAsync(Action wake, CancellationToken cancellationToken) =>
        await (await SubscriberAsync(cancellationToken)).SubscribeAsync(WakeChannel, (_, _) => wake());

    const string CancelPurpose = Prefix + "cancel";

    public async Task RequestCancelAsync(string runId, CancellationToken cancellationToken) =>
        await (await SubscriberAsync(cancellationToken)).PublishAsync(CancelChannel, signing.Seal(CancelPurpose, runId));

    public async Task OnCancelAsync(Action<string> cancel, CancellationToken cancellationToken) =>
        await (await SubscriberAsync(cancellationToken)).SubscribeAsync(CancelChannel, (_, value) =>
        {
            if (signing.Open(CancelPurpose, (ReadOnlyMemory<byte>)value) is { } runId)
                cancel(System.Text.Encoding.UTF8.GetString(runId.Span));
        });

    public async Task LogAppendedAsync(string runId, long lines, CancellationToken cancellationToken) =>
        await (await SubscriberAsync(cancellationToken)).PublishAsync(LogChannel(runId), lines);

    /// <summary>Calls <paramref name="appended"/> whenever a worker stored new lines of the run; dispose to stop.</summary>
    public async Task<IAsyncDisposable> WatchLogAsync(string runId, Action appended, CancellationToken cancellationToken)
    {
        var subscriber = await SubscriberAsync(cancellationToken);
        var queue = await subscriber.SubscribeAsync(LogChannel(runId));
        queue.OnMessage(_ => appended());
        return new Unsubscribe(queue);
    }

    sealed class Unsubscribe(ChannelMessageQueue queue) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await queue.UnsubscribeAsync();
    }
}
