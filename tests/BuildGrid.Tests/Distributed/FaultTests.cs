using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;
using ContainersClient = BuildGrid.Containers.V1.Containers.ContainersClient;
using Cv1 = BuildGrid.Containers.V1;

namespace BuildGrid.Tests.Distributed;

/// <summary>
/// A worker process killed with SIGKILL in the middle of 20 concurrent builds, in the distributed layout (two Builds
/// processes on real redis-server, Containers behind the daprd stand-in): every run still ends succeeded, each one
/// completes exactly once, and every build.finished event is applied exactly once (one snapshot per run).
/// </summary>
public sealed class FaultTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Killing_a_worker_during_20_builds_loses_nothing_and_runs_nothing_twice()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var sidecar = await FakeDaprSidecar.StartAsync(redis);
        var root = TestDirectories.Create("faults");
        var processes = new List<ServiceProcess>();
        try
        {
            Dictionary<string, string> Env(string dataDir) => new()
            {
                ["BUILDGRID_DATA_DIR"] = Path.Combine(root, dataDir),
                ["DAPR_GRPC_PORT"] = sidecar.GrpcPort.ToString(),
                ["DAPR_HTTP_PORT"] = ServiceProcess.FreePort().ToString(),
                ["BUILDGRID_REDIS"] = redis.ConnectionString,
                ["Builds__Workers"] = "3",
                ["Builds__Lease"] = "00:00:03",
                ["Builds__ReaperInterval"] = "00:00:00.500",
            };
            var containers = await ServiceProcess.StartAsync("BuildGrid.Containers", Env("containers"));
            processes.Add(containers);
            await sidecar.RegisterAsync("containers", containers.GrpcUrl, containers.RestUrl);
            var workerA = await ServiceProcess.StartAsync("BuildGrid.Builds", Env("builds"));
            var workerB = await ServiceProcess.StartAsync("BuildGrid.Builds", Env("builds"));
            processes.AddRange([workerA, workerB]);

            using var containerChannel = GrpcChannel.ForAddress(containers.GrpcUrl);
            var containerClient = new ContainersClient(containerChannel);
            var project = await containerClient.CreateProjectAsync(new Cv1.CreateProjectRequest { Name = "svc" }, cancellationToken: Ct);
            var branch = await containerClient.CreateBranchAsync(new Cv1.CreateBranchRequest { ProjectId = project.Id, Name = "main" }, cancellationToken: Ct);
            using var repo = await GitRepository.CreateAsync("main", new Dictionary<string, string> { ["README"] = "faults" });

            var completed = Path.Combine(root, "completed");
            using var channelB = GrpcChannel.ForAddress(workerB.GrpcUrl);
            var client = new BuildRuns.BuildRunsClient(channelB);
            var runs = new List<Run>();
            for (var i = 0; i < 20; i++)
            {
                var spec = Runs.Script($"sleep 1.5\necho \"$TASK_ID\" >> \"{completed}\"");
                spec.Repos.Add(new RepoSpec { Url = repo.Url, Branch = "main" });
                runs.Add(await client.StartRunAsync(new StartRunRequest { Spec = spec, Project = "svc", Tag = $"t{i}" }, cancellationToken: Ct));
            }
            // Kill A once it is in the middle of builds; start it again a moment later.
            await Eventually.Async(() => runs.Count(r => client.GetRun(new GetRunRequest { Id = r.Id }, cancellationToken: Ct).Worker.Contains($":{workerA.Id}:")), n => n >= 2, 60_000);
            await workerA.KillAsync();
            await Task.Delay(1000, Ct);
            processes.Add(await ServiceProcess.StartAsync("BuildGrid.Builds", Env("builds")));

            var done = await Task.WhenAll(runs.Select(r => Runs.FinishedAsync(client, r.Id, 240)));
            Assert.All(done, r => Assert.Equal(RunState.Succeeded, r.State));
            Assert.Contains(done, r => r.Attempt == 2);
            Assert.All(done, r => Assert.InRange(r.Attempt, 1, 2));
            var lines = await File.ReadAllLinesAsync(completed, Ct);
            Assert.Equal(runs.Select(r => r.Id).Order(), lines.Order());

            var snapshots = await Eventually.Async(() => containerClient.ListSnapshots(new Cv1.ListSnapshotsRequest { BranchId = branch.Id, PageSize = 100 }, cancellationToken: Ct).Snapshots.ToList(),
                list => list.Count >= 20, 60_000);
            await Task.Delay(1000, Ct);   // anything delivered late would show up now
            snapshots = containerClient.ListSnapshots(new Cv1.ListSnapshotsRequest { BranchId = branch.Id, PageSize = 100 }, cancellationToken: Ct).Snapshots.ToList();
            Assert.Equal(runs.Select(r => r.Id).Order(), snapshots.Select(s => s.BuildRunId).Order());
        }
        finally
        {
            foreach (var process in processes) await process.DisposeAsync();
            TestDirectories.TryDelete(root);
        }
    }
}
