using BuildGrid.Standalone;
using System.Collections.Concurrent;
using BuildGrid.Core.Events;
using BuildGrid.Core.Hosting;
using BuildGrid.Gateway.Hosting;
using BuildGrid.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace BuildGrid.Tests.Distributed;

/// <summary>
/// The Redis event bus's delivery guarantees, on the two servers it must run on — Debian's redis-server (Redis 7) and
/// Garnet (as embedded in standalone BuildGrid) — observed through the Redis keys it documents: events wait while their
/// subscriber is stopped, an event held by a consumer that died is delivered again, nothing is delivered twice in normal
/// operation, and what cannot be applied ends in the dead-letter list (unreadable at once, failing after 6 attempts).
/// </summary>
public sealed class RedisEventBusContractTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    const string Topic = "buildgrid.contract_check.happened";
    static readonly SignedMessages Signing = new(new BuildGrid.Core.Identity.IdentitySettings { ServiceKey = new byte[32] }, NullLogger<SignedMessages>.Instance);

    [Theory]
    [InlineData("redis-server")]
    [InlineData("garnet")]
    public async Task Events_wait_for_their_subscriber_survive_a_dead_consumer_and_are_dead_lettered(string server)
    {
        var dataDir = TestDirectories.Create("bus-contract");
        await using var redisServer = server == "redis-server" ? await RedisServer.StartAsync() : null;
        using var garnet = server == "garnet" ? new EmbeddedGarnet(
            BuildGridSettings.From(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["BUILDGRID_DATA_DIR"] = dataDir }).Build()),
            new ConfigurationBuilder().Build(), NullLogger<EmbeddedGarnet>.Instance) : null;
        if (garnet is not null) await garnet.StartAsync(Ct);
        var connectionString = redisServer?.ConnectionString ?? garnet!.ConnectionString;
        try
        {
            var applied = new ConcurrentQueue<string>();
            var local = new InProcessEventBus(NullLogger<InProcessEventBus>.Instance);
            local.Subscribe(Topic, (cloudEvent, _) =>
            {
                if (cloudEvent.Data.Contains("poison", StringComparison.Ordinal))
                    throw new InvalidOperationException("this handler cannot apply the event");
                applied.Enqueue(cloudEvent.Id);
                return Task.CompletedTask;
            });
            RedisEventBus Subscriber()
            {
                var bus = new RedisEventBus(new RedisConnection(() => connectionString), "sub", local, Signing, NullLogger<RedisEventBus>.Instance) { RetryBackoff = TimeSpan.FromMilliseconds(10) };
                bus.Listen(Topic);
                return bus;
            }
            using var publisher = new RedisEventBus(new RedisConnection(() => connectionString), "pub", new InProcessEventBus(NullLogger<InProcessEventBus>.Instance), Signing, NullLogger<RedisEventBus>.Instance);
            await using var redis = await ConnectionMultiplexer.ConnectAsync(connectionString);
            var db = redis.GetDatabase();
            static CloudEvent Event(string data) => new(Guid.NewGuid().ToString(), "contract", "test", Topic, DateTimeOffset.UtcNow, data, null);
            RedisKey queue = "buildgrid:events:queue:sub:" + Topic;
            RedisKey deadLetter = RedisEventBus.DeadLetterKey("sub", Topic);

            var first = Subscriber();
            await first.StartAsync(Ct);
            await Eventually.Async(() => db.SetMembers("buildgrid:events:subscribers:" + Topic).Select(v => v.ToString()).ToList(), m => m.Contains("sub"), 10_000);
            var e1 = Event("{\"n\":1}");
            await publisher.PublishAsync(e1, Ct);
            await Eventually.Async(() => applied.ToList(), a => a.Contains(e1.Id), 10_000);
            await first.StopAsync(Ct);
            first.Dispose();

            // Nobody consumes now: the events wait in the subscriber's list.
            var e2 = Event("{\"n\":2}");
            var e3 = Event("{\"n\":3}");
            await publisher.PublishAsync(e2, Ct);
            await publisher.PublishAsync(e3, Ct);
            Assert.Equal(2, await db.ListLengthAsync(queue));
            // A consumer of the same app that died holding an event (its processing list, no heartbeat).
            var e4 = Event("{\"n\":4}");
            await db.ListLeftPushAsync("buildgrid:events:processing:sub:" + Topic + ":dead", Signing.Seal("event:" + Topic, e4.ToEnvelope()));
            await db.SetAddAsync("buildgrid:events:consumers:sub", "dead");
            // Something that is not a CloudEvent, and an event the handler always fails on.
            await db.ListLeftPushAsync(queue, "not a cloud event");
            // A well-formed CloudEvent that a writer to Redis put there, without the installation's key: never applied.
            var forged = Event("{\"n\":5}");
            await db.ListLeftPushAsync(queue, forged.ToEnvelope());
            var poison = Event("{\"poison\":true}");
            await publisher.PublishAsync(poison, Ct);

            using var second = Subscriber();
            await second.StartAsync(Ct);
            await Eventually.Async(() => applied.Count, n => n >= 4, 20_000);
            await Eventually.Async(() => db.ListLength(deadLetter), n => n >= 3, 20_000);
            await Task.Delay(500, Ct);   // a duplicate would show up now
            Assert.Equal(new[] { e1.Id, e2.Id, e3.Id, e4.Id }.Order(), applied.Order());
            var dead = (await db.ListRangeAsync(deadLetter)).Select(v => v.ToString()).ToList();
            Assert.Equal(3, dead.Count);
            Assert.Contains("not a cloud event", dead);
            Assert.Contains(dead, d => d.Contains(forged.Id, StringComparison.Ordinal));
            Assert.Contains(dead, d => d.Contains(poison.Id, StringComparison.Ordinal));
            Assert.Equal(0, await db.ListLengthAsync(queue));
            Assert.Equal(0, await db.HashLengthAsync("buildgrid:events:attempts:sub:" + Topic));
            Assert.DoesNotContain("dead", (await db.SetMembersAsync("buildgrid:events:consumers:sub")).Select(v => v.ToString()));
            await second.StopAsync(Ct);
        }
        finally
        {
            if (garnet is not null) await garnet.StopAsync(Ct);
            TestDirectories.TryDelete(dataDir);
        }
    }
}
