using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// The queue on a real redis-server, under faults: many runs each executed exactly once, Redis losing its data, and a
/// worker process killed with SIGKILL in the middle of a run.
/// </summary>
public sealed class QueueTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static string[] FastLeases(RedisServer redis) =>
        [$"--BUILDGRID_REDIS={redis.ConnectionString}", "--Builds:Lease=00:00:03", "--Builds:ReaperInterval=00:00:00.500"];

    /// <summary>A run that appends its number to a file in its own cache dir (kept after the run, on the host).</summary>
    static RunSpec Executions(int i) => new() { Script = $"echo run-{i} >> \"$CACHE_DIR/executions\"", TimeoutSeconds = 120, CacheKey = $"queue-{i}" };

    [Fact]
    public async Task On_redis_server_every_run_is_executed_exactly_once()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var host = await OwnedHost.StartAsync("queue-redis", [.. FastLeases(redis), "--Builds:Workers=4"]);
        var dataDir = host.DataDir;
        using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
        var client = new BuildRuns.BuildRunsClient(channel);
        var runs = await Task.WhenAll(Enumerable.Range(0, 24).Select(i =>
            client.StartRunAsync(new StartRunRequest { Spec = Executions(i) }, cancellationToken: Ct).ResponseAsync));
        var done = await Task.WhenAll(runs.Select(r => Runs.FinishedAsync(client, r.Id)));
        Assert.All(done, r => Assert.Equal((RunState.Succeeded, 1), (r.State, r.Attempt)));
        // Each run appended one line to its own cache dir (a sandboxed script reaches nothing else that outlives it).
        foreach (var i in Enumerable.Range(0, 24))
            Assert.Equal([$"run-{i}"], await File.ReadAllLinesAsync(Path.Combine(dataDir, "builds", "cache", $"queue-{i}", "executions"), Ct));
    }

    [Fact]
    public async Task Runs_queued_while_redis_loses_its_data_are_recovered_from_sql()
    {
        await using var redis = await RedisServer.StartAsync();
        var dataDir = TestDirectories.Create("queue-lost");
        // An API-only host queues the runs; no worker takes them yet.
        var (api, _, grpc) = await StandaloneFixture.StartAsync(dataDir, null, [.. FastLeases(redis), "--Builds:Workers=0"]);
        WebApplication? workers = null;
        try
        {
            using var channel = GrpcChannel.ForAddress(grpc);
            var client = new BuildRuns.BuildRunsClient(channel);
            var runs = new List<Run>();
            for (var i = 0; i < 5; i++)
                runs.Add(await client.StartRunAsync(new StartRunRequest { Spec = Runs.Script($"echo recovered-{i}") }, cancellationToken: Ct));

            await redis.KillAsync();
            await redis.RestartAsync();   // empty: the queue is gone
            (workers, _, _) = await StandaloneFixture.StartAsync(dataDir, null, [.. FastLeases(redis), "--Builds:Workers=2"]);

            var done = await Task.WhenAll(runs.Select(r => Runs.FinishedAsync(client, r.Id, 60)));
            Assert.All(done, r => Assert.Equal(RunState.Succeeded, r.State));
        }
        finally
        {
            foreach (var host in new[] { api, workers }.OfType<WebApplication>())
            {
                await host.StopAsync(Ct);
                await host.DisposeAsync();
            }
            TestDirectories.TryDelete(dataDir);
        }
    }

    [Fact]
    public async Task A_run_whose_worker_process_is_killed_is_requeued_and_finished_once_by_another()
    {
        await using var redis = await RedisServer.StartAsync();
        var dataDir = TestDirectories.Create("queue-kill");
        var environment = new Dictionary<string, string>
        {
            ["BUILDGRID_DATA_DIR"] = dataDir,
            ["BUILDGRID_REDIS"] = redis.ConnectionString,
            ["Builds__Lease"] = "00:00:03",
            ["Builds__ReaperInterval"] = "00:00:00.500",
            ["Builds__Workers"] = "1",
        };
        try
        {
            var marker = $"191.{Random.Shared.Next(100000, 999999)}";
            await using var first = await ServiceProcess.StartAsync("BuildGrid.Builds", environment);
            using var channel = GrpcChannel.ForAddress(first.GrpcUrl);
            var client = new BuildRuns.BuildRunsClient(channel);
            var run = await client.StartRunAsync(new StartRunRequest
            {
                Spec = new RunSpec
                {
                    Script = $"echo \"attempt $BUILD_ATTEMPT\" >> \"$CACHE_DIR/attempts\"\nif [ \"$BUILD_ATTEMPT\" = 1 ]; then sleep {marker}; fi\necho finished",
                    TimeoutSeconds = 120, CacheKey = "attempts",
                },
            }, cancellationToken: Ct);
            var running = await Runs.WaitAsync(client, run.Id, r => r.State == RunState.Running);
            await Eventually.Async(() => Tools.ProcessesWith($"sleep {marker}").Count, n => n == 1);
            Assert.Contains($":{first.Id}:", running.Worker);

            await first.KillAsync();   // SIGKILL: no shutdown code runs, the lease just stops being renewed
            // The build it was running dies with it (its watchdog kills the process group), so it never runs beside its retry.
            await Eventually.Async(() => Tools.ProcessesWith($"sleep {marker}").Count, n => n == 0, 5000);

            await using var second = await ServiceProcess.StartAsync("BuildGrid.Builds", environment);
            using var channel2 = GrpcChannel.ForAddress(second.GrpcUrl);
            var client2 = new BuildRuns.BuildRunsClient(channel2);
            var done = await Runs.FinishedAsync(client2, run.Id, 90);
            Assert.Equal(RunState.Succeeded, done.State);
            Assert.Equal(2, done.Attempt);
            Assert.Contains($":{second.Id}:", done.Worker);
            Assert.Equal(["attempt 1", "attempt 2"], await File.ReadAllLinesAsync(Path.Combine(dataDir, "builds", "cache", "attempts", "attempts"), Ct));
            var log = await Runs.LogAsync(client2, run.Id);
            Assert.Contains("attempt 2 of 2", log);
            Assert.Contains("finished", log);
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }
}
