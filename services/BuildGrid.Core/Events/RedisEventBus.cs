using System.Collections.Concurrent;
using BuildGrid.Core.Hosting;
using Google.Protobuf;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace BuildGrid.Core.Events;

/// <summary>
/// Pub/sub between BuildGrid processes on a shared Redis when there is no Dapr sidecar (the <c>tye.yaml</c> layout):
/// durable, at-least-once, on Redis 7 and Garnet alike (lists, sets, hashes and pub/sub; no streams, no Lua).
/// <list type="bullet">
/// <item>Each subscribing process registers <c>(topic, app id)</c> in a Redis set, and keeps it registered;</item>
/// <item>a publisher LPUSHes the envelope onto one list per subscribing app id — a subscriber that is down or
/// restarting finds its events waiting (replicas of one app id share its list, as Dapr's consumer groups do);</item>
/// <item>a consumer LMOVEs an event onto its own processing list, applies it with the process's local handlers, and
/// removes it (the ack). A consumer that dies leaves the event there; its heartbeat lapses and a live consumer of the
/// same app id moves it back. The redelivery is a no-op for handlers, which record event ids in their inbox;</item>
/// <item>an event whose handlers keep failing is moved to its dead-letter topic's list after <see cref="MaxAttempts"/>
/// attempts (data that cannot be read at once), as Dapr's resiliency policy and the topic route's DROP do.</item>
/// </list>
/// An event published before any process of an app id ever subscribed is kept for it when the app id is one of
/// BuildGrid's own subscribers of the topic (<see cref="EventSubscriptions.SubscribersOf"/>); for other app ids it is
/// not (as with Dapr).
/// <para>A Redis that comes back empty (restarted without persistence) is noticed by its epoch key changing: publishing
/// then pauses until subscribers have registered again (the outbox keeps the events and retries), and every outbox relay
/// of the process publishes again what it sent in the last <see cref="ReplayWindow"/> — the events that were waiting in
/// Redis — which subscribers that had them already skip (inbox). Events older than that, waiting for a subscriber that
/// was down all that time, are lost with Redis: run it with appendonly, as <c>tye.yaml</c> does.</para>
/// </summary>
public sealed class RedisEventBus(RedisConnection redisConnection, string appId, InProcessEventBus local, SignedMessages signing,
    ILogger<RedisEventBus> logger, TimeProvider? timeProvider = null)
    : BackgroundService, IEventPublisher
{
    readonly TimeProvider time = timeProvider ?? TimeProvider.System;
    /// <summary>Attempts before an event goes to the dead-letter list: the first try and 5 retries (dapr/components/resiliency.yaml).</summary>
    public const int MaxAttempts = 6;
    const string Prefix = "buildgrid:events:";
    static readonly TimeSpan Poll = TimeSpan.FromSeconds(1);
    static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(2);
    static readonly TimeSpan HeartbeatLapse = TimeSpan.FromSeconds(8);
    static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(15);

    /// <summary>How far back the outbox relays publish again after Redis lost its data.</summary>
    public TimeSpan ReplayWindow { get; } = TimeSpan.FromMinutes(10);
    static readonly RedisKey EpochKey = Prefix + "epoch";

    readonly string consumerId = Guid.NewGuid().ToString("N");
    readonly Lock epochLock = new();
    string? epoch;
    long resumeAt;
    int losses;
    readonly ConcurrentDictionary<string, SemaphoreSlim> topics = new();

    public string AppId => appId;

    /// <summary>How many times this process has seen Redis come back without its data; outbox relays replay on a change.</summary>
    public int Losses => Volatile.Read(ref losses);

    /// <summary>The wait after a handler's first failure; the ceiling of the jittered wait (<see cref="Backoff"/>) doubles with each further failure, up to 15 s.</summary>
    public TimeSpan RetryBackoff { get; init; } = TimeSpan.FromMilliseconds(500);

    static string Purpose(string topic) => "event:" + topic;

    static RedisKey Subscribers(string topic) => Prefix + "subscribers:" + topic;
    static RedisKey Queue(string app, string topic) => Prefix + "queue:" + app + ":" + topic;
    static RedisKey Processing(string app, string topic, string consumer) => Prefix + "processing:" + app + ":" + topic + ":" + consumer;
    static RedisKey Consumers(string app) => Prefix + "consumers:" + app;
    static RedisKey Alive(string consumer) => Prefix + "alive:" + consumer;
    static RedisKey Attempts(string app, string topic) => Prefix + "attempts:" + app + ":" + topic;
    static RedisChannel Wake(string app) => RedisChannel.Literal(Prefix + "wake:" + app);

    /// <summary>The dead-letter list of an app id's subscription to <paramref name="topic"/>, for operators to inspect.</summary>
    public static string DeadLetterKey(string app, string topic) => Prefix + "deadletter:" + app + ":" + EventSubscriptions.DeadLetterTopic(topic);

    /// <summary>
    /// The app id this process subscribes as when the Redis bus is in use, or null for the in-process bus: the bus is
    /// used when BUILDGRID_REDIS is set, there is no Dapr sidecar, and this process is one piece of a distributed layout —
    /// one service's own program (BuildGrid.Projects, ...), or a gateway that calls some service at an address.
    /// BUILDGRID_APP_ID names the app id explicitly. The standalone gateway keeps the in-process bus.
    /// </summary>
    public static string? AppIdOf(IConfiguration configuration, Hosting.BuildGridSettings settings, string applicationName)
    {
        if (settings.Redis is null || settings.DaprEnabled)
            return null;
        if (configuration["BUILDGRID_APP_ID"] is { Length: > 0 } explicitId)
            return explicitId.Trim().ToLowerInvariant();
        if (Clients.ServiceAddresses.OwnAppIdOf(applicationName) is { } own)
            return own;
        return Clients.ServiceAddresses.AppIds.Any(s => !string.IsNullOrWhiteSpace(configuration[Clients.ServiceAddresses.UrlSetting(s)])) ? "gateway" : null;
    }

    /// <summary>Delivers <paramref name="topic"/> to this process (its handlers are on the local bus); call before the host starts.</summary>
    public void Listen(string topic) => topics.TryAdd(topic, new SemaphoreSlim(0, 1));

    public async Task PublishAsync(CloudEvent cloudEvent, CancellationToken cancellationToken)
    {
        var db = (await ConnectAsync(cancellationToken)).GetDatabase();
        await CheckEpochAsync(db);
        if (time.GetTimestamp() < Interlocked.Read(ref resumeAt))
            throw new InvalidOperationException("Redis lost its data; waiting for subscribers to register again before publishing");
        // The registered subscribers, and BuildGrid's own subscribers of the topic even before they first registered
        // (Identity started after the service whose audit record this is): their lists keep the event until they come.
        var apps = (await db.SetMembersAsync(Subscribers(cloudEvent.Topic)))
            .Concat(EventSubscriptions.SubscribersOf(cloudEvent.Topic).Select(app => (RedisValue)app))
            .Distinct().ToArray();
        if (apps.Length == 0)
            return;
        // Sealed with the installation's key: a writer to Redis cannot forge an event (a build.finished, an audit record).
        RedisValue envelope = signing.Seal(Purpose(cloudEvent.Topic), cloudEvent.ToEnvelope());
        // A failure part way makes the outbox publish again: an app that has the event already skips it (inbox).
        foreach (var app in apps)
            await db.ListLeftPushAsync(Queue(app!, cloudEvent.Topic), envelope);
        await Task.WhenAll(apps.Select(app => db.PublishAsync(Wake(app!), cloudEvent.Topic)));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (topics.IsEmpty)
        {
            // A publisher only: still notice a Redis that lost its data, so that the outbox replays what was waiting there.
            await KeepAliveAsync(stoppingToken);
            return;
        }
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var redis = await ConnectAsync(stoppingToken);
                await redis.GetSubscriber().SubscribeAsync(Wake(appId), (_, topic) =>
                {
                    if (topics.TryGetValue(topic.ToString(), out var signal) && signal.CurrentCount == 0)
                    {
                        try { signal.Release(); }
                        catch (SemaphoreFullException) { }
                    }
                });
                await BeatAsync(redis.GetDatabase());
                break;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                Log.EventBusRedisFailed(logger, appId, Poll, e);
                await Task.Delay(Poll, time, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
        var loops = topics.Keys.Select(topic => Task.Run(() => ConsumeAsync(topic, stoppingToken), CancellationToken.None)).ToList();
        loops.Add(Task.Run(() => KeepAliveAsync(stoppingToken), CancellationToken.None));
        await Task.WhenAll(loops);
    }

    /// <summary>Registers this consumer and its subscriptions (again after Redis lost them), and recovers dead consumers' events.</summary>
    async Task BeatAsync(IDatabase db)
    {
        await CheckEpochAsync(db);
        if (topics.IsEmpty)
            return;
        await db.StringSetAsync(Alive(consumerId), appId, HeartbeatLapse);
        await db.SetAddAsync(Consumers(appId), consumerId);
        foreach (var topic in topics.Keys)
            await db.SetAddAsync(Subscribers(topic), appId);
        foreach (var other in await db.SetMembersAsync(Consumers(appId)))
        {
            if (other == consumerId || await db.KeyExistsAsync(Alive(other!)))
                continue;
            foreach (var topic in topics.Keys)
            {
                while (!(await db.ListMoveAsync(Processing(appId, topic, other!), Queue(appId, topic), ListSide.Right, ListSide.Right)).IsNull)
                    Log.EventRecovered(logger, appId, topic, other!);
            }
            await db.SetRemoveAsync(Consumers(appId), other);
        }
    }

    /// <summary>
    /// Redis's data carries an epoch, set once by whoever finds it missing; a different epoch than last seen means Redis
    /// came back without its data (lists of waiting events and the subscription registry included).
    /// </summary>
    async Task CheckEpochAsync(IDatabase db)
    {
        var current = await db.StringGetAsync(EpochKey);
        if (current.IsNull)
        {
            await db.StringSetAsync(EpochKey, Guid.NewGuid().ToString("N"), when: When.NotExists);
            current = await db.StringGetAsync(EpochKey);
        }
        lock (epochLock)
        {
            if (epoch is null || current.IsNull || epoch == current)
            {
                epoch ??= current.IsNull ? null : current.ToString();
                return;
            }
            epoch = current.ToString();
            // Subscribers register again within a heartbeat lapse; until then a publish would find nobody to deliver to.
            Interlocked.Exchange(ref resumeAt, time.GetTimestamp() + (long)(HeartbeatLapse.TotalSeconds * time.TimestampFrequency));
            Interlocked.Increment(ref losses);
        }
        Log.EventBusRedisLostData(logger, appId, ReplayWindow);
    }

    async Task KeepAliveAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Heartbeat, time, stoppingToken);
                await BeatAsync((await ConnectAsync(stoppingToken)).GetDatabase());
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                Log.EventBusRedisFailed(logger, appId, Heartbeat, e);
            }
        }
    }

    async Task ConsumeAsync(string topic, CancellationToken stoppingToken)
    {
        var signal = topics[topic];
        var processing = Processing(appId, topic, consumerId);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var db = (await ConnectAsync(stoppingToken)).GetDatabase();
                // What this consumer took but did not finish (Redis failed at the ack) goes first, then the next event.
                var item = await db.ListGetByIndexAsync(processing, -1);
                if (item.IsNull)
                    item = await db.ListMoveAsync(Queue(appId, topic), processing, ListSide.Right, ListSide.Left);
                if (item.IsNull)
                {
                    await signal.WaitAsync(Poll, stoppingToken);
                    continue;
                }
                await DeliverAsync(db, topic, processing, item, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                Log.EventBusRedisFailed(logger, appId, Poll, e);
                await Task.Delay(Poll, time, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    async Task DeliverAsync(IDatabase db, string topic, RedisKey processing, RedisValue item, CancellationToken stoppingToken)
    {
        // Not sealed with this installation's key (forged by a writer to Redis): logged, dead-lettered, never applied.
        if (signing.Open(Purpose(topic), (ReadOnlyMemory<byte>)item) is not { } opened)
        {
            await DeadLetterAsync(db, topic, processing, item, null, "not signed with this installation's key");
            return;
        }
        if (CloudEvent.FromEnvelope(opened, topic, time) is not { } cloudEvent)
        {
            await DeadLetterAsync(db, topic, processing, item, null, "not a CloudEvent");
            return;
        }
        while (true)
        {
            Exception failure;
            try
            {
                await local.PublishAsync(cloudEvent, stoppingToken);
                await db.ListRemoveAsync(processing, item, 1);
                await db.HashDeleteAsync(Attempts(appId, topic), cloudEvent.Id);
                return;
            }
            catch (InvalidProtocolBufferException e)
            {
                // Data that is not the topic's message never will be: dead-letter it instead of retrying.
                await DeadLetterAsync(db, topic, processing, item, cloudEvent.Id, e.Message);
                return;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested && e is not (RedisException or TimeoutException))
            {
                failure = e;
            }
            var attempts = await db.HashIncrementAsync(Attempts(appId, topic), cloudEvent.Id);
            if (attempts >= MaxAttempts)
            {
                await DeadLetterAsync(db, topic, processing, item, cloudEvent.Id, failure.Message);
                return;
            }
            var delay = Backoff.Next(attempts - 1, RetryBackoff, MaxBackoff);
            Log.EventDeliveryFailed(logger, appId, topic, cloudEvent.Id, (int)attempts, delay);
            await Task.Delay(delay, time, stoppingToken);
        }
    }

    async Task DeadLetterAsync(IDatabase db, string topic, RedisKey processing, RedisValue item, string? eventId, string reason)
    {
        await db.ListLeftPushAsync(DeadLetterKey(appId, topic), item);
        await db.ListRemoveAsync(processing, item, 1);
        if (eventId is not null)
            await db.HashDeleteAsync(Attempts(appId, topic), eventId);
        Log.EventDeadLettered(logger, appId, topic, eventId ?? "?", EventSubscriptions.DeadLetterTopic(topic), reason);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (redisConnection.Current is not { IsConnected: true } redis || topics.IsEmpty)
            return;
        // A clean stop hands back what it had taken at once, instead of after its heartbeat lapses.
        try
        {
            var db = redis.GetDatabase();
            foreach (var topic in topics.Keys)
                while (!(await db.ListMoveAsync(Processing(appId, topic, consumerId), Queue(appId, topic), ListSide.Right, ListSide.Right)).IsNull) { }
            await db.SetRemoveAsync(Consumers(appId), consumerId);
            await db.KeyDeleteAsync(Alive(consumerId));
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            Log.EventBusRedisFailed(logger, appId, TimeSpan.Zero, e);
        }
    }

    Task<IConnectionMultiplexer> ConnectAsync(CancellationToken cancellationToken) => redisConnection.GetAsync(cancellationToken);
}
