using System.Collections.Concurrent;
using BuildGrid.Builds.Storage;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Events;
using BuildGrid.Core.Hosting;
using BuildGrid.Core.Storage;
using BuildGrid.Tests.Infrastructure;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace BuildGrid.Tests.Storage;

/// <summary>
/// Two replicas of the Builds service's storage on one PostgreSQL database — each with its own <see cref="ServiceDatabase"/>
/// (its own pool, its own migration run) and its own stores, as two processes on two machines have — racing for the
/// same rows: claims of queued runs (the conditional UPDATE of <see cref="RunStore.ClaimAsync"/>) and the outbox relay's
/// batches (FOR UPDATE SKIP LOCKED). Each row is taken exactly once and none is left behind. They run on every pass,
/// on the cluster the other tests share, whatever BUILDGRID_TEST_SQL says.
/// </summary>
public sealed class PostgresClaimTests
{
    const int Runs = 300;
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The event bus as a relay sees it: records what each relay published, slowly enough that the relays overlap.</summary>
    sealed class RecordingPublisher(string relay, ConcurrentBag<(string Relay, string EventId)> published) : IEventPublisher
    {
        public async Task PublishAsync(CloudEvent cloudEvent, CancellationToken cancellationToken)
        {
            await Task.Delay(1, cancellationToken);
            published.Add((relay, cloudEvent.Id));
        }
    }

    sealed record Replica(string Name, ServiceDatabase Database, RunStore Runs, OutboxRelay Relay);

    static Replica Start(string name, string connectionString, ConcurrentBag<(string Relay, string EventId)> published)
    {
        var settings = new BuildGridSettings
        {
            RestUrl = new Uri("http://127.0.0.1:1"), GrpcUrl = new Uri("http://127.0.0.1:2"), DataDir = Path.GetTempPath(),
            SqlProvider = "postgres", Sql = connectionString,
        };
        var database = new ServiceDatabase("builds", typeof(RunStore).Assembly, settings,
            new DiskSpace(settings.DataDir, 0, keepsReserve: false, NullLogger<DiskSpace>.Instance), TimeProvider.System, NullLoggerFactory.Instance);
        var signal = new OutboxSignal();
        var runs = new RunStore(database, new Outbox(signal), new EphemeralDataProtectionProvider(), TimeProvider.System);
        var relay = new OutboxRelay(database, "/buildgrid/builds", new RecordingPublisher(name, published), signal, NullLogger<OutboxRelay>.Instance);
        return new Replica(name, database, runs, relay);
    }

    static async Task<(Replica A, Replica B, string ConnectionString, ConcurrentBag<(string Relay, string EventId)> Published)> StartTwoAsync()
    {
        var server = await PostgresServer.Shared;
        var connectionString = server.ConnectionString(await server.CreateDatabaseAsync());
        var published = new ConcurrentBag<(string, string)>();
        var (a, b) = (Start("a", connectionString, published), Start("b", connectionString, published));
        // Both start at once, as replicas do: the migrations take turns under the advisory lock.
        await Task.WhenAll(a.Database.EnsureMigratedAsync(), b.Database.EnsureMigratedAsync());
        return (a, b, connectionString, published);
    }

    static async Task<List<string>> QueueAsync(Replica a, Replica b)
    {
        var ids = Enumerable.Range(0, Runs).Select(i => $"race-{i:D4}-{Guid.NewGuid():N}").ToList();
        await Parallel.ForEachAsync(ids.Select((id, i) => (id, i)), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = Ct }, async (item, ct) =>
        {
            var run = new Run
            {
                Id = item.id, Kind = "spec", Operator = "race", QueueTime = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow), MaxAttempts = 1,
                TimeoutMinutes = 5, Namespace = "race",
            };
            await (item.i % 2 == 0 ? a : b).Runs.InsertAsync(run, new RunSpec { Script = "true" }, ct);
        });
        return ids;
    }

    static async Task<long> ScalarAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString + ";Pooling=false");
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(Ct), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Two_replicas_racing_for_every_queued_run_claim_each_exactly_once()
    {
        var (a, b, connectionString, _) = await StartTwoAsync();
        var ids = await QueueAsync(a, b);

        // Four workers per replica, each trying every run in an order of its own: 2400 claims for 300 runs.
        var claims = new ConcurrentBag<(string Id, string Worker)>();
        await Task.WhenAll(new[] { a, b }.SelectMany(replica => Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var worker = $"{replica.Name}-{w}";
            foreach (var id in ids.OrderBy(_ => Random.Shared.Next()))
                if (await replica.Runs.ClaimAsync(id, worker, TimeSpan.FromMinutes(5), Ct) is { } claimed)
                {
                    Assert.Equal(worker, claimed.Run.Worker);
                    claims.Add((id, worker));
                }
        }, Ct))));

        Assert.All(claims.GroupBy(c => c.Id), g => Assert.Single(g));
        Assert.Equal(ids.Order(), claims.Select(c => c.Id).Order());
        // They did race: both replicas won runs.
        Assert.Contains(claims, c => c.Worker.StartsWith("a-", StringComparison.Ordinal));
        Assert.Contains(claims, c => c.Worker.StartsWith("b-", StringComparison.Ordinal));
        // What the database holds: every run running, once (attempt 1), by the worker that was told it won.
        Assert.Equal(Runs, await ScalarAsync(connectionString, $"SELECT COUNT(*) FROM builds.runs WHERE state = {(int)RunState.Running} AND attempt = 1"));
        var byWorker = claims.ToDictionary(c => c.Id, c => c.Worker);
        await using var connection = new NpgsqlConnection(connectionString + ";Pooling=false");
        await connection.OpenAsync(Ct);
        await using var query = new NpgsqlCommand("SELECT id, worker FROM builds.runs", connection);
        await using var reader = await query.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
            Assert.Equal(byWorker[reader.GetString(0)], reader.GetString(1));
    }

    [Fact]
    public async Task Two_replicas_relaying_one_outbox_publish_each_event_exactly_once()
    {
        var (a, b, connectionString, published) = await StartTwoAsync();
        await QueueAsync(a, b);
        var rows = await ScalarAsync(connectionString, "SELECT COUNT(*) FROM builds.outbox WHERE sent_at IS NULL");
        Assert.Equal(Runs, rows);

        // Both relays drain the outbox at once, round after round as their polling does, until nothing is left unsent (a
        // round ends when the relay finds nothing it can claim — also while the other relay holds every row left).
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        await Task.WhenAll(new[] { a, b }.Select(replica => Task.Run(async () =>
        {
            while (await ScalarAsync(connectionString, "SELECT COUNT(*) FROM builds.outbox WHERE sent_at IS NULL") > 0)
            {
                deadline.Token.ThrowIfCancellationRequested();
                await replica.Relay.PublishPendingAsync(deadline.Token);
            }
        }, Ct)));

        Assert.All(published.GroupBy(p => p.EventId), g => Assert.Single(g));
        Assert.Equal(Runs, published.Count);
        Assert.Contains(published, p => p.Relay == "a");
        Assert.Contains(published, p => p.Relay == "b");
        Assert.Equal(0, await ScalarAsync(connectionString, "SELECT COUNT(*) FROM builds.outbox WHERE sent_at IS NULL"));
        Assert.Equal(0, await ScalarAsync(connectionString, "SELECT COUNT(*) FROM builds.outbox WHERE attempts <> 1"));
    }
}
