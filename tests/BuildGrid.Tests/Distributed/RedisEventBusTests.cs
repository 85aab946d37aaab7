using System.Net;
using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;
using BuildGrid.Tests.Quay;
using Grpc.Net.Client;
using ContainersClient = BuildGrid.Containers.V1.Containers.ContainersClient;
using Cv1 = BuildGrid.Containers.V1;

namespace BuildGrid.Tests.Distributed;

/// <summary>
/// The <c>tye.yaml</c> layout, without Dapr: Projects, Containers, Registry, two Builds workers and the gateway, each its
/// own OS process, calling one another at configured addresses (BUILDGRID_&lt;APPID&gt;_URL) and sharing one real
/// redis-server (BUILDGRID_REDIS). Events cross processes through Redis: a build's outcome reaches Projects, Containers
/// and the Quay notifications, and events published while their subscriber is killed wait for it and are applied once.
/// </summary>
public sealed class RedisEventBusTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Without_a_sidecar_events_cross_processes_through_redis_and_wait_for_a_killed_subscriber()
    {
        Tools.Require("buildah", "buildah");
        await using var redis = await RedisServer.StartAsync();
        var root = TestDirectories.Create("redis-bus");
        var processes = new List<ServiceProcess>();
        try
        {
            Dictionary<string, string> Env(string dataDir, params (string Key, string Value)[] extra)
            {
                var env = new Dictionary<string, string>
                {
                    ["BUILDGRID_DATA_DIR"] = Path.Combine(root, dataDir),
                    ["BUILDGRID_REDIS"] = redis.ConnectionString,
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

            var projects = await Start("BuildGrid.Projects", Env("projects"));
            var containers = await Start("BuildGrid.Containers", Env("containers"));
            var registry = await Start("BuildGrid.Registry", Env("registry",
                ("Registry__Notifications__AllowedNetworks__0", "127.0.0.1/32"), ("Registry__Notifications__PollInterval", "00:00:00.200")));
            (string, string)[] builds = [("Builds__Registry", registry.RestUrl.Authority), ("Builds__Workers", "2"),
                ("BUILDGRID_PROJECTS_URL", projects.GrpcUrl.ToString())];
            var workerA = await Start("BuildGrid.Builds", Env("builds", builds));
            await Start("BuildGrid.Builds", Env("builds", builds));
            var gateway = await Start("BuildGrid.Standalone", Env("gateway",
                ("BUILDGRID_PROJECTS_URL", projects.GrpcUrl.ToString()), ("BUILDGRID_CONTAINERS_URL", containers.GrpcUrl.ToString()),
                ("BUILDGRID_REGISTRY_URL", registry.GrpcUrl.ToString()), ("BUILDGRID_BUILDS_URL", workerA.GrpcUrl.ToString())));

            using var http = new HttpClient { BaseAddress = gateway.RestUrl };
            var api = new ImageMarketApi(http);
            await using var webhooks = await WebhookReceiver.StartAsync();
            var quay = new QuayApi(http);
            var repository = await quay.CreateRepositoryAsync("default_cluster", "shop");
            await quay.CreateNotificationAsync(repository, "build_success", "webhook", new { url = webhooks.Hook("success") });
            await quay.CreateNotificationAsync(repository, "repo_push", "webhook", new { url = webhooks.Hook("push") });
            Assert.Equal(10000, (await api.PostJsonAsync("/api/project/save", new Dictionary<string, object>
            {
                ["project"] = "shop", ["addOrUpdate"] = "add", ["DefineDockerFileType"] = "define", ["Dockerfile"] = "FROM scratch\nLABEL shop=1\n",
            })).Code);
            var build = await api.PostJsonAsync("/api/project/build", new { projectName = "shop", tag = "1.0", @operator = "bus" });
            Assert.True(build.Code == 10000, $"{build.Code} {build.ErrMsg}\n" + string.Join("\n----\n", processes.Select(p => p.Output)));
            var id = build.Content.GetProperty("idStr").GetString()!;

            var history = await Eventually.Async(() => api.GetAsync("/api/project/buildHistory?projectName=shop").GetAwaiter().GetResult(),
                h => h.Content.GetProperty("data")[0].GetProperty("status").GetString() is "succeeded" or "failed", 120_000);
            var entry = history.Content.GetProperty("data")[0];
            Assert.True(entry.GetProperty("status").GetString() == "succeeded", entry.ToString());
            var digest = entry.GetProperty("imageDigest").GetString()!;
            using (var registryHttp = new HttpClient { BaseAddress = registry.RestUrl })
            using (var head = new HttpRequestMessage(HttpMethod.Head, "/v2/default_cluster/shop/manifests/1.0"))
            {
                head.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
                head.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
                using var response = await registryHttp.SendAsync(head, Ct);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(digest, response.Headers.GetValues("Docker-Content-Digest").Single());
            }
            // Projects learned of the build only from its build.finished event, through Redis.
            var info = await Eventually.Async(() => api.InfoAsync("shop").GetAwaiter().GetResult(),
                i => i.Content.GetProperty("lastBuildStatus").GetString() == "succeeded", 30_000);
            Assert.Equal((id, digest), (info.Content.GetProperty("lastBuildId").GetString(), info.Content.GetProperty("lastBuildDigest").GetString()));
            // The Registry process fired the repository's notifications from the build and push events.
            await Eventually.Async(() => webhooks.BodiesAt("success").Count() + webhooks.BodiesAt("push").Count(), n => n >= 2, 30_000);
            Assert.Contains(webhooks.BodiesAt("push"), b => b.GetRawText().Contains("1.0"));

            // Branch builds record snapshots in Containers; Containers is killed while their events are being published.
            using var setupChannel = GrpcChannel.ForAddress(containers.GrpcUrl);
            var setup = new ContainersClient(setupChannel);
            var project = await setup.CreateProjectAsync(new Cv1.CreateProjectRequest { Name = "shop" }, cancellationToken: Ct);
            var branch = await setup.CreateBranchAsync(new Cv1.CreateBranchRequest { ProjectId = project.Id, Name = "main" }, cancellationToken: Ct);
            using var repo = await GitRepository.CreateAsync("main", new Dictionary<string, string> { ["README"] = "bus" });
            using var buildsChannel = GrpcChannel.ForAddress(workerA.GrpcUrl);
            var buildsClient = new BuildRuns.BuildRunsClient(buildsChannel);
            var runs = new List<Run>();
            for (var i = 0; i < 8; i++)
            {
                var spec = Runs.Script($"sleep {1 + i / 2}.{i % 2 * 5}");
                spec.Repos.Add(new RepoSpec { Url = repo.Url, Branch = "main" });
                runs.Add(await buildsClient.StartRunAsync(new StartRunRequest { Spec = spec, Project = "shop", Tag = $"main-{i}" }, cancellationToken: Ct));
            }
            // Once the first snapshot is in, kill Containers: the events of the other runs are published while it is down.
            await Eventually.Async(() => setup.ListSnapshots(new Cv1.ListSnapshotsRequest { BranchId = branch.Id }).Snapshots.Count, n => n >= 1, 60_000);
            await containers.KillAsync();
            var unfinished = runs.Count(r => buildsClient.GetRun(new GetRunRequest { Id = r.Id }, cancellationToken: Ct).State is RunState.Queued or RunState.Running);
            Assert.True(unfinished > 0, "every run finished before Containers was killed: the test would prove nothing");
            var done = await Task.WhenAll(runs.Select(r => Runs.FinishedAsync(buildsClient, r.Id, 120)));
            Assert.All(done, r => Assert.Equal(RunState.Succeeded, r.State));
            containers = await Start("BuildGrid.Containers", Env("containers"));

            using var channel = GrpcChannel.ForAddress(containers.GrpcUrl);
            var client = new ContainersClient(channel);
            var snapshots = await Eventually.Async(() => client.ListSnapshots(new Cv1.ListSnapshotsRequest { BranchId = branch.Id, PageSize = 100 }).Snapshots.ToList(),
                list => list.Count >= runs.Count, 60_000);
            await Task.Delay(1000, Ct);   // a duplicate delivered late would show up now
            snapshots = (await client.ListSnapshotsAsync(new Cv1.ListSnapshotsRequest { BranchId = branch.Id, PageSize = 100 }, cancellationToken: Ct)).Snapshots.ToList();
            Assert.Equal(runs.Select(r => r.Id).Order(), snapshots.Select(s => s.BuildRunId).Order());
            Assert.All(snapshots, s => Assert.Equal(repo.Commit, s.Commit));
        }
        finally
        {
            foreach (var process in processes) await process.DisposeAsync();
            TestDirectories.TryDelete(root);
        }
    }
}
