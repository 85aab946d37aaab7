using System.Globalization;
using System.Security.Cryptography;
using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;
using ContainersClient = BuildGrid.Containers.V1.Containers.ContainersClient;
using Cv1 = BuildGrid.Containers.V1;

namespace BuildGrid.Tests.Distributed;

/// <summary>
/// Processes of the distributed layout killed with SIGKILL in the middle of 20 concurrent builds, then restarted: a
/// worker (two Builds processes on real redis-server, Containers behind the daprd stand-in), Registry and Containers
/// during pushes too, Projects with the gateway, and redis-server itself (events through Redis, no sidecar). Every run still ends succeeded,
/// none runs twice at once, and every build.finished event is applied exactly once (one snapshot per run).
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
                ["DAPR_GRPC_PORT"] = sidecar.GrpcPort.ToString(CultureInfo.InvariantCulture),
                ["DAPR_HTTP_PORT"] = ServiceProcess.FreePort().ToString(CultureInfo.InvariantCulture),
                ["BUILDGRID_REDIS"] = redis.ConnectionString,
                ["Builds__Workers"] = "3",
                ["Builds__Lease"] = "00:00:03",
                ["Builds__ReaperInterval"] = "00:00:00.500",
            };
            var containers = await ServiceProcess.StartAsync("BuildGrid.Containers", Env("containers"));
            processes.Add(containers);
            await sidecar.RegisterAsync("containers", containers.GrpcUrl);
            var workerA = await ServiceProcess.StartAsync("BuildGrid.Builds", Env("builds"));
            var workerB = await ServiceProcess.StartAsync("BuildGrid.Builds", Env("builds"));
            processes.AddRange([workerA, workerB]);

            using var containerChannel = GrpcChannel.ForAddress(containers.GrpcUrl);
            var containerClient = new ContainersClient(containerChannel);
            var project = await containerClient.CreateProjectAsync(new Cv1.CreateProjectRequest { Name = "svc" }, cancellationToken: Ct);
            var branch = await containerClient.CreateBranchAsync(new Cv1.CreateBranchRequest { ProjectId = project.Id, Name = "main" }, cancellationToken: Ct);
            using var repo = await GitRepository.CreateAsync("main", new Dictionary<string, string> { ["README"] = "faults" });

            // Each run appends to its own cache dir (kept on the host; a sandboxed script reaches nothing else that outlives it).
            var completed = Path.Combine(root, "builds", "builds", "cache");
            using var channelB = GrpcChannel.ForAddress(workerB.GrpcUrl);
            var client = new BuildRuns.BuildRunsClient(channelB);
            var runs = new List<Run>();
            for (var i = 0; i < 20; i++)
            {
                var spec = Runs.Script("echo \"$TASK_ID $BUILD_ATTEMPT start $(date +%s%N)\" >> \"$CACHE_DIR/completed\"\nsleep 1.5\n" +
                    "echo \"$TASK_ID $BUILD_ATTEMPT end $(date +%s%N)\" >> \"$CACHE_DIR/completed\"");
                spec.CacheKey = $"fault-{i}";
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
            // Every run ran to its end, and the attempt that was recorded did. A killed attempt may have got as far as its
            // last line before its watchdog struck (a crash cannot be undone), but never ran at the same time as its retry:
            // each attempt starts after the previous one's last sign of life.
            var records = (await CompletedAsync(completed)).Select(l => l.Split(' '))
                .Select(f => (Run: f[0], Attempt: int.Parse(f[1], CultureInfo.InvariantCulture), Kind: f[2], At: long.Parse(f[3], CultureInfo.InvariantCulture))).ToList();
            foreach (var run in done)
            {
                var mine = records.Where(r => r.Run == run.Id).ToList();
                Assert.Contains(mine, r => r.Attempt == run.Attempt && r.Kind == "end");
                for (var attempt = 2; attempt <= run.Attempt; attempt++)
                {
                    // An attempt killed while it was still checking out never reached its script: it left no line, and
                    // there is nothing its retry could have overlapped.
                    var previous = mine.Where(r => r.Attempt == attempt - 1).ToList();
                    if (previous.Count == 0) continue;
                    var start = mine.Single(r => r.Attempt == attempt && r.Kind == "start").At;
                    Assert.True(start > previous.Max(r => r.At), $"run {run.Id}: attempt {attempt} started before attempt {attempt - 1} stopped");
                }
                Assert.All(mine.GroupBy(r => (r.Attempt, r.Kind)), g => Assert.Single(g));
            }

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

    [Fact]
    public async Task Killing_registry_and_containers_during_builds_and_pushes_leaves_no_partial_blob_and_applies_every_event_once()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var sidecar = await FakeDaprSidecar.StartAsync(redis);
        var root = TestDirectories.Create("faults-services");
        var processes = new List<ServiceProcess>();
        try
        {
            Dictionary<string, string> Env(string dataDir, string? port = null)
            {
                var env = new Dictionary<string, string>
                {
                    ["BUILDGRID_DATA_DIR"] = Path.Combine(root, dataDir),
                    ["DAPR_GRPC_PORT"] = sidecar.GrpcPort.ToString(CultureInfo.InvariantCulture),
                    ["DAPR_HTTP_PORT"] = ServiceProcess.FreePort().ToString(CultureInfo.InvariantCulture),
                    ["BUILDGRID_REDIS"] = redis.ConnectionString,
                    ["Builds__Workers"] = "4",
                };
                if (port is not null) env["BUILDGRID_REST_URL"] = $"http://127.0.0.1:{port}";
                return env;
            }
            // Fixed REST ports, so that clients reach the restarted processes where they were.
            var registryPort = ServiceProcess.FreePort().ToString(CultureInfo.InvariantCulture);
            var containersPort = ServiceProcess.FreePort().ToString(CultureInfo.InvariantCulture);
            var containers = await ServiceProcess.StartAsync("BuildGrid.Containers", Env("containers", containersPort));
            var registry = await ServiceProcess.StartAsync("BuildGrid.Registry", Env("registry", registryPort));
            var worker = await ServiceProcess.StartAsync("BuildGrid.Builds", Env("builds"));
            processes.AddRange([containers, registry, worker]);
            await sidecar.RegisterAsync("containers", containers.GrpcUrl);

            using (var setup = GrpcChannel.ForAddress(containers.GrpcUrl))
            {
                var client = new ContainersClient(setup);
                var project = await client.CreateProjectAsync(new Cv1.CreateProjectRequest { Name = "svc" }, cancellationToken: Ct);
                await client.CreateBranchAsync(new Cv1.CreateBranchRequest { ProjectId = project.Id, Name = "main" }, cancellationToken: Ct);
            }
            using var repo = await GitRepository.CreateAsync("main", new Dictionary<string, string> { ["README"] = "faults" });
            using var buildsChannel = GrpcChannel.ForAddress(worker.GrpcUrl);
            var builds = new BuildRuns.BuildRunsClient(buildsChannel);
            var runs = new List<Run>();
            for (var i = 0; i < 20; i++)
            {
                var spec = Runs.Script("sleep 0.5");
                spec.Repos.Add(new RepoSpec { Url = repo.Url, Branch = "main" });
                runs.Add(await builds.StartRunAsync(new StartRunRequest { Spec = spec, Project = "svc", Tag = $"t{i}" }, cancellationToken: Ct));
            }

            // 20 image pushes in flight while the registry is killed; each client retries until its push went through.
            using var registryHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{registryPort}"), Timeout = TimeSpan.FromSeconds(10) };
            // Incompressible layers of about 3 MB, so that pushes are still in flight when the registry dies.
            var images = Enumerable.Range(0, 20).Select(i => Registry.OciTestImage.Create(Convert.ToBase64String(RandomNumberGenerator.GetBytes(2_400_000)))).ToList();
            var pushes = images.Select((image, i) => Task.Run(async () =>
            {
                var deadline = DateTime.UtcNow.AddSeconds(90);
                while (true)
                {
                    try
                    {
                        await new Registry.V2Client(registryHttp).PushImageAsync($"team/app{i}", "1", image);
                        return;
                    }
                    catch (Exception) when (DateTime.UtcNow < deadline)
                    {
                        await Task.Delay(200);
                    }
                }
            })).ToList();

            await Task.Delay(300, Ct);
            var inFlight = pushes.Count(p => !p.IsCompleted);
            await registry.KillAsync();
            Assert.True(inFlight > 0, "every push finished before the registry was killed: the test would prove nothing");
            await containers.KillAsync();
            await Task.Delay(1500, Ct);
            containers = await ServiceProcess.StartAsync("BuildGrid.Containers", Env("containers", containersPort));
            registry = await ServiceProcess.StartAsync("BuildGrid.Registry", Env("registry", registryPort));
            processes.AddRange([containers, registry]);
            await sidecar.RegisterAsync("containers", containers.GrpcUrl);

            await Task.WhenAll(pushes);
            var done = await Task.WhenAll(runs.Select(r => Runs.FinishedAsync(builds, r.Id, 240)));
            Assert.All(done, r => Assert.Equal((RunState.Succeeded, 1), (r.State, r.Attempt)));

            // Every image is there with its digest, and no stored blob differs from its name (no partial or corrupt blob).
            for (var i = 0; i < images.Count; i++)
            {
                using var manifest = await registryHttp.GetAsync($"/v2/team/app{i}/manifests/1", Ct);
                Assert.Equal(System.Net.HttpStatusCode.OK, manifest.StatusCode);
                Assert.Equal(images[i].Manifest.Digest, manifest.Headers.GetValues("Docker-Content-Digest").Single());
            }
            foreach (var file in Directory.EnumerateFiles(Path.Combine(root, "registry", "registry", "blobs"), "*", SearchOption.AllDirectories))
            {
                await using var stream = File.OpenRead(file);
                Assert.Equal(Path.GetFileName(file), Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, Ct)));
            }

            // The build.finished events that waited while Containers was down are applied, each exactly once.
            using var channel = GrpcChannel.ForAddress(containers.GrpcUrl);
            var containerClient = new ContainersClient(channel);
            var branch = (await containerClient.ListBranchesAsync(new Cv1.ListBranchesRequest(), cancellationToken: Ct)).Branches.Single(b => b.Name == "main");
            var snapshots = await Eventually.Async(() => containerClient.ListSnapshots(new Cv1.ListSnapshotsRequest { BranchId = branch.Id, PageSize = 100 },
                cancellationToken: Ct).Snapshots.ToList(), list => list.Count >= 20, 60_000);
            await Task.Delay(1000, Ct);
            snapshots = (await containerClient.ListSnapshotsAsync(new Cv1.ListSnapshotsRequest { BranchId = branch.Id, PageSize = 100 }, cancellationToken: Ct)).Snapshots.ToList();
            Assert.Equal(runs.Select(r => r.Id).Order(), snapshots.Select(s => s.BuildRunId).Order());
        }
        finally
        {
            foreach (var process in processes) await process.DisposeAsync();
            TestDirectories.TryDelete(root);
        }
    }
    /// <summary>
    /// The tye layout without a sidecar (events through Redis): Projects and the gateway are killed with SIGKILL while 20
    /// builds run, and restarted where they were. No run is lost or run twice, every build.finished event is applied once
    /// by Containers, Projects applies the events it missed (its last build is the run that finished last), and the
    /// restarted gateway answers for every run.
    /// </summary>
    [Fact]
    public async Task Killing_projects_and_the_gateway_during_20_builds_loses_no_run_and_no_event()
    {
        await using var redis = await RedisServer.StartAsync();
        var root = TestDirectories.Create("faults-gateway");
        var processes = new List<ServiceProcess>();
        try
        {
            Dictionary<string, string> Env(string dataDir, params (string Key, string Value)[] extra)
            {
                var env = new Dictionary<string, string>
                {
                    ["BUILDGRID_DATA_DIR"] = Path.Combine(root, dataDir),
                    ["BUILDGRID_REDIS"] = redis.ConnectionString,
                    ["Builds__Workers"] = "3",
                };
                foreach (var (key, value) in extra) env[key] = value;
                return env;
            }
            async Task<ServiceProcess> Start(string project, Dictionary<string, string> env)
            {
                var process = await ServiceProcess.StartAsync(project, env);
                processes.Add(process);
                return process;
            }
            // Fixed ports for the two processes that are restarted, so that callers reach them where they were.
            var projectsGrpc = $"http://127.0.0.1:{ServiceProcess.FreePort()}";
            var gatewayRest = $"http://127.0.0.1:{ServiceProcess.FreePort()}";
            Dictionary<string, string> ProjectsEnv() => Env("projects", ("BUILDGRID_GRPC_URL", projectsGrpc));
            var projects = await Start("BuildGrid.Projects", ProjectsEnv());
            var containers = await Start("BuildGrid.Containers", Env("containers"));
            var worker = await Start("BuildGrid.Builds", Env("builds", ("BUILDGRID_PROJECTS_URL", projectsGrpc)));
            await Start("BuildGrid.Builds", Env("builds", ("BUILDGRID_PROJECTS_URL", projectsGrpc)));
            Dictionary<string, string> GatewayEnv() => Env("gateway", ("BUILDGRID_REST_URL", gatewayRest),
                ("BUILDGRID_PROJECTS_URL", projectsGrpc), ("BUILDGRID_CONTAINERS_URL", containers.GrpcUrl.ToString()),
                ("BUILDGRID_BUILDS_URL", worker.GrpcUrl.ToString()));   // the gateway hosts the Registry itself
            var gateway = await Start("BuildGrid.Standalone", GatewayEnv());

            using var http = new HttpClient { BaseAddress = new Uri(gatewayRest) };
            var api = new ImageMarketApi(http);
            Assert.Equal(10000, (await api.PostJsonAsync("/api/project/new", new { projectName = "svc", @operator = "faults" })).Code);
            using var containerChannel = GrpcChannel.ForAddress(containers.GrpcUrl);
            var containerClient = new ContainersClient(containerChannel);
            var project = await containerClient.CreateProjectAsync(new Cv1.CreateProjectRequest { Name = "svc" }, cancellationToken: Ct);
            var branch = await containerClient.CreateBranchAsync(new Cv1.CreateBranchRequest { ProjectId = project.Id, Name = "main" }, cancellationToken: Ct);
            using var repo = await GitRepository.CreateAsync("main", new Dictionary<string, string> { ["README"] = "faults" });

            // Each run appends to its own cache dir (kept on the host; a sandboxed script reaches nothing else that outlives it).
            var completed = Path.Combine(root, "builds", "builds", "cache");
            using var buildsChannel = GrpcChannel.ForAddress(worker.GrpcUrl);
            var client = new BuildRuns.BuildRunsClient(buildsChannel);
            var runs = new List<Run>();
            for (var i = 0; i < 20; i++)
            {
                var spec = Runs.Script("echo \"$TASK_ID start\" >> \"$CACHE_DIR/completed\"\nsleep 1.5\necho \"$TASK_ID end\" >> \"$CACHE_DIR/completed\"");
                spec.CacheKey = $"fault-{i}";
                spec.Repos.Add(new RepoSpec { Url = repo.Url, Branch = "main" });
                runs.Add(await client.StartRunAsync(new StartRunRequest { Spec = spec, Project = "svc", Tag = $"t{i}" }, cancellationToken: Ct));
            }
            // Once builds are finishing, kill Projects and the gateway; the rest of the builds finish while they are down.
            await Eventually.Async(() => runs.Count(r => client.GetRun(new GetRunRequest { Id = r.Id }, cancellationToken: Ct).State == RunState.Succeeded),
                n => n >= 1, 60_000);
            await projects.KillAsync();
            await gateway.KillAsync();
            var unfinished = runs.Count(r => client.GetRun(new GetRunRequest { Id = r.Id }, cancellationToken: Ct).State is RunState.Queued or RunState.Running);
            Assert.True(unfinished > 0, "every run finished before the kill: the test would prove nothing");
            await Task.Delay(1000, Ct);
            await Start("BuildGrid.Projects", ProjectsEnv());
            await Start("BuildGrid.Standalone", GatewayEnv());

            var done = await Task.WhenAll(runs.Select(r => Runs.FinishedAsync(client, r.Id, 240)));
            Assert.All(done, r => Assert.Equal((RunState.Succeeded, 1), (r.State, r.Attempt)));
            // Each run executed once: one start and one end line each.
            var records = (await CompletedAsync(completed)).Select(l => l.Split(' ')).ToList();
            foreach (var run in done)
                Assert.Equal(["end", "start"], records.Where(f => f[0] == run.Id).Select(f => f[1]).Order());
            // The restarted gateway answers for every run.
            foreach (var run in done)
            {
                using var response = await http.GetAsync($"/buildgrid/v1/runs/{run.Id}", Ct);
                Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
                Assert.Contains("RUN_STATE_SUCCEEDED", await response.Content.ReadAsStringAsync(Ct));
            }
            // Projects applied the events it missed while down: its last build is the run that finished last.
            var lastFinish = done.Max(r => r.FinishTime);
            var info = await Eventually.Async(() => api.InfoAsync("svc").GetAwaiter().GetResult(),
                i => done.Any(r => r.FinishTime == lastFinish && r.Id == i.Content.GetProperty("lastBuildId").GetString()), 60_000);
            Assert.Equal("succeeded", info.Content.GetProperty("lastBuildStatus").GetString());
            // Containers applied every build.finished event exactly once.
            var snapshots = await Eventually.Async(() => containerClient.ListSnapshots(new Cv1.ListSnapshotsRequest { BranchId = branch.Id, PageSize = 100 }, cancellationToken: Ct).Snapshots.ToList(),
                list => list.Count >= 20, 60_000);
            await Task.Delay(1000, Ct);
            snapshots = (await containerClient.ListSnapshotsAsync(new Cv1.ListSnapshotsRequest { BranchId = branch.Id, PageSize = 100 }, cancellationToken: Ct)).Snapshots.ToList();
            Assert.Equal(runs.Select(r => r.Id).Order(), snapshots.Select(s => s.BuildRunId).Order());
        }
        finally
        {
            foreach (var process in processes) await process.DisposeAsync();
            TestDirectories.TryDelete(root);
        }
    }
    /// <summary>
    /// redis-server killed during 20 builds and restarted empty (no persistence), in the tye layout (queue and events on
    /// Redis): the runs whose queue entries were lost are recovered from SQL, none is stuck or run twice, and the
    /// build.finished events that were waiting in Redis are published again (the outbox replays) and applied once.
    /// </summary>
    [Fact]
    public async Task Redis_restarted_empty_during_20_builds_leaves_no_run_stuck_and_no_event_lost()
    {
        await using var redis = await RedisServer.StartAsync();
        var root = TestDirectories.Create("faults-redis");
        var processes = new List<ServiceProcess>();
        try
        {
            Dictionary<string, string> Env(string dataDir) => new()
            {
                ["BUILDGRID_DATA_DIR"] = Path.Combine(root, dataDir),
                ["BUILDGRID_REDIS"] = redis.ConnectionString,
                ["Builds__Workers"] = "3",
                ["Builds__Lease"] = "00:00:03",
                ["Builds__ReaperInterval"] = "00:00:00.500",
            };
            var containers = await ServiceProcess.StartAsync("BuildGrid.Containers", Env("containers"));
            processes.Add(containers);
            var worker = await ServiceProcess.StartAsync("BuildGrid.Builds", Env("builds"));
            processes.Add(worker);
            processes.Add(await ServiceProcess.StartAsync("BuildGrid.Builds", Env("builds")));

            using var containerChannel = GrpcChannel.ForAddress(containers.GrpcUrl);
            var containerClient = new ContainersClient(containerChannel);
            var project = await containerClient.CreateProjectAsync(new Cv1.CreateProjectRequest { Name = "svc" }, cancellationToken: Ct);
            var branch = await containerClient.CreateBranchAsync(new Cv1.CreateBranchRequest { ProjectId = project.Id, Name = "main" }, cancellationToken: Ct);
            using var repo = await GitRepository.CreateAsync("main", new Dictionary<string, string> { ["README"] = "faults" });
            // Each run appends to its own cache dir (kept on the host; a sandboxed script reaches nothing else that outlives it).
            var completed = Path.Combine(root, "builds", "builds", "cache");
            using var buildsChannel = GrpcChannel.ForAddress(worker.GrpcUrl);
            var client = new BuildRuns.BuildRunsClient(buildsChannel);
            var runs = new List<Run>();
            for (var i = 0; i < 20; i++)
            {
                var spec = Runs.Script("echo \"$TASK_ID start\" >> \"$CACHE_DIR/completed\"\nsleep 1\necho \"$TASK_ID end\" >> \"$CACHE_DIR/completed\"");
                spec.CacheKey = $"fault-{i}";
                spec.Repos.Add(new RepoSpec { Url = repo.Url, Branch = "main" });
                runs.Add(await client.StartRunAsync(new StartRunRequest { Spec = spec, Project = "svc", Tag = $"t{i}" }, cancellationToken: Ct));
            }
            await Eventually.Async(() => runs.Count(r => client.GetRun(new GetRunRequest { Id = r.Id }, cancellationToken: Ct).State == RunState.Succeeded),
                n => n >= 3, 60_000);
            await redis.KillAsync();
            var queued = runs.Count(r => client.GetRun(new GetRunRequest { Id = r.Id }, cancellationToken: Ct).State == RunState.Queued);
            Assert.True(queued > 0, "no run was still queued when Redis died: the test would prove nothing");
            await Task.Delay(500, Ct);
            await redis.RestartAsync();   // empty: the queue, the waiting events and the subscriptions are gone

            var done = await Task.WhenAll(runs.Select(r => Runs.FinishedAsync(client, r.Id, 240)));
            Assert.All(done, r => Assert.Equal(RunState.Succeeded, r.State));
            var records = (await CompletedAsync(completed)).Select(l => l.Split(' ')).ToList();
            foreach (var run in done.Where(r => r.Attempt == 1))
                Assert.Equal(["end", "start"], records.Where(f => f[0] == run.Id).Select(f => f[1]).Order());
            var snapshots = await Eventually.Async(() => containerClient.ListSnapshots(new Cv1.ListSnapshotsRequest { BranchId = branch.Id, PageSize = 100 }, cancellationToken: Ct).Snapshots.ToList(),
                list => list.Count >= 20, 90_000);
            await Task.Delay(1000, Ct);
            snapshots = (await containerClient.ListSnapshotsAsync(new Cv1.ListSnapshotsRequest { BranchId = branch.Id, PageSize = 100 }, cancellationToken: Ct)).Snapshots.ToList();
            Assert.Equal(runs.Select(r => r.Id).Order(), snapshots.Select(s => s.BuildRunId).Order());
        }
        finally
        {
            foreach (var process in processes) await process.DisposeAsync();
            TestDirectories.TryDelete(root);
        }
    }

    /// <summary>The lines every run appended to its cache dir's <c>completed</c> file (under <paramref name="cacheRoot"/>).</summary>
    static async Task<List<string>> CompletedAsync(string cacheRoot)
    {
        var lines = new List<string>();
        foreach (var file in Directory.EnumerateFiles(cacheRoot, "completed", SearchOption.AllDirectories))
            lines.AddRange(await File.ReadAllLinesAsync(file, TestContext.Current.CancellationToken));
        return lines;
    }
}
