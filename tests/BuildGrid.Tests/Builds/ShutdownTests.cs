using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// SIGTERM to a real BuildGrid process (the gateway's build output, with its build worker) sharing a real redis-server
/// queue: a build that finishes within the grace is recorded as usual; one that does not is killed — its whole process
/// tree — and is queued again at once for its next attempt, with a log line saying why; never left running, and not
/// after its lease (a minute here) lapses. The next process picks it up.
/// </summary>
public sealed class ShutdownTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sigterm_gives_running_builds_the_grace_then_kills_them_and_queues_them_again_at_once()
    {
        await using var redis = await RedisServer.StartAsync();
        var dataDir = TestDirectories.Create("shutdown");
        try
        {
            Dictionary<string, string> Settings(int workers) => new()
            {
                ["BUILDGRID_DATA_DIR"] = dataDir, ["BUILDGRID_REDIS"] = redis.ConnectionString, ["Builds__Workers"] = workers.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Builds__ShutdownGrace"] = "00:00:04", ["Builds__Lease"] = "00:01:00", ["Builds__ReaperInterval"] = "00:00:01",
            };
            var marker = $"300.{Random.Shared.Next(100000, 999999)}";
            string longId, quickId;
            await using (var first = await ServiceProcess.StartAsync("BuildGrid.Standalone", Settings(2)))
            {
                using var channel = GrpcChannel.ForAddress(first.GrpcUrl);
                var client = new BuildRuns.BuildRunsClient(channel);
                longId = (await client.StartRunAsync(new StartRunRequest
                {
                    Spec = Runs.Script($"echo started attempt $BUILD_ATTEMPT\nif [ \"$BUILD_ATTEMPT\" = 1 ]; then sleep {marker}; fi\necho finished attempt $BUILD_ATTEMPT", 600),
                }, cancellationToken: Ct)).Id;
                quickId = (await client.StartRunAsync(new StartRunRequest { Spec = Runs.Script("echo started\nsleep 1.5\necho quick one done", 600) },
                    cancellationToken: Ct)).Id;
                foreach (var id in new[] { longId, quickId })
                    await Runs.WaitAsync(client, id, r => r.State == RunState.Running, 60);
                await Eventually.Async(() => Tools.ProcessesWith(marker), found => found.Count > 0);

                var took = await first.TerminateAsync(TimeSpan.FromSeconds(30));
                Assert.True(took >= TimeSpan.FromSeconds(3), $"the process exited after {took}, before the 4 s grace");
                Assert.True(took < TimeSpan.FromSeconds(20), $"the process took {took} to exit");
                Assert.Empty(Tools.ProcessesWith(marker));   // the long build's process tree was killed
            }

            // Right after the exit — the lease has most of its minute left — the long run is queued, not running.
            await using (var reader = await ServiceProcess.StartAsync("BuildGrid.Standalone", Settings(0)))
            {
                using var channel = GrpcChannel.ForAddress(reader.GrpcUrl);
                var client = new BuildRuns.BuildRunsClient(channel);
                var quick = await client.GetRunAsync(new GetRunRequest { Id = quickId }, cancellationToken: Ct);
                Assert.Equal(RunState.Succeeded, quick.State);
                var requeued = await client.GetRunAsync(new GetRunRequest { Id = longId }, cancellationToken: Ct);
                Assert.Equal((RunState.Queued, 1), (requeued.State, requeued.Attempt));
                var log = await Runs.LogAsync(client, longId);
                Assert.Contains("is shutting down: the run was stopped after a grace of 4 second(s) and is queued again for attempt 2 of 2", log);
                Assert.DoesNotContain("finished attempt 1", log);
            }

            await using (var next = await ServiceProcess.StartAsync("BuildGrid.Standalone", Settings(1)))
            {
                using var channel = GrpcChannel.ForAddress(next.GrpcUrl);
                var client = new BuildRuns.BuildRunsClient(channel);
                var done = await Runs.FinishedAsync(client, longId, 40);
                Assert.Equal((RunState.Succeeded, 2), (done.State, done.Attempt));
                Assert.Contains("finished attempt 2", await Runs.LogAsync(client, longId));
            }
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }
}
