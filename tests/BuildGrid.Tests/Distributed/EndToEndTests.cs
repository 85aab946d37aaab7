using System.Globalization;
using System.Net;
using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;
using BuildGrid.Tests.Quay;
using Grpc.Net.Client;
using ContainersClient = BuildGrid.Containers.V1.Containers.ContainersClient;
using Cv1 = BuildGrid.Containers.V1;

namespace BuildGrid.Tests.Distributed;

/// <summary>
/// The distributed layout end to end, every piece its own OS process on loopback: Projects, Containers, Registry and two
/// Builds worker processes, each beside the test stand-in for daprd (invocation by app id, pub/sub on real redis-server),
/// and the gateway in front. A project is built from the REST API; its image lands in the Registry process, its last
/// build reaches Projects and a branch build's snapshot reaches Containers — both only through events.
/// </summary>
public sealed class EndToEndTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Build_through_the_gateway_reaches_registry_projects_and_containers_across_processes()
    {
        Tools.Require("buildah", "buildah");
        await using var redis = await RedisServer.StartAsync();
        // Dapr's app API token, as the Kubernetes manifests set it: the sidecar sends it on every call to an app.
        const string AppToken = "e2e-app-api-token";
        await using var sidecar = await FakeDaprSidecar.StartAsync(redis, AppToken);
        var root = TestDirectories.Create("e2e");
        var processes = new List<ServiceProcess>();
        OwnedHost? gateway = null;
        try
        {
            Dictionary<string, string> Env(string dataDir, params (string Key, string Value)[] extra)
            {
                var env = new Dictionary<string, string>
                {
                    ["BUILDGRID_DATA_DIR"] = Path.Combine(root, dataDir),
                    ["DAPR_GRPC_PORT"] = sidecar.GrpcPort.ToString(CultureInfo.InvariantCulture),
                    ["DAPR_HTTP_PORT"] = ServiceProcess.FreePort().ToString(CultureInfo.InvariantCulture),
                    ["BUILDGRID_REDIS"] = redis.ConnectionString,
                    ["APP_API_TOKEN"] = AppToken,
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
            (string, string)[] builds = [("Builds__Registry", registry.RestUrl.Authority), ("Builds__Workers", "2")];
            var workerA = await Start("BuildGrid.Builds", Env("builds", builds));
            var workerB = await Start("BuildGrid.Builds", Env("builds", builds));
            await sidecar.RegisterAsync("projects", projects.GrpcUrl);
            await sidecar.RegisterAsync("containers", containers.GrpcUrl);
            await sidecar.RegisterAsync("registry", registry.GrpcUrl);
            // Both workers are instances of one app id (competing consumers), as Kubernetes replicas are.
            await sidecar.RegisterAsync("builds", workerA.GrpcUrl);
            await sidecar.RegisterAsync("builds", workerB.GrpcUrl);
            gateway = await OwnedHost.StartAsync("e2e-gateway", $"--DAPR_GRPC_PORT={sidecar.GrpcPort}");

            using var http = new HttpClient { BaseAddress = gateway.RestUrl };
            var api = new ImageMarketApi(http);
            // Quay notifications of the image's repository: a webhook for the finished build and one for the push.
            await using var webhooks = await WebhookReceiver.StartAsync();
            var quay = new QuayApi(http);
            var repository = await quay.CreateRepositoryAsync("default_cluster", "shop");
            await quay.CreateNotificationAsync(repository, "build_success", "webhook", new { url = webhooks.Hook("success") });
            await quay.CreateNotificationAsync(repository, "repo_push", "webhook", new { url = webhooks.Hook("push") });
            Assert.Equal(10000, (await api.PostJsonAsync("/api/project/save", new Dictionary<string, object>
            {
                ["project"] = "shop", ["addOrUpdate"] = "add", ["DefineDockerFileType"] = "define", ["Dockerfile"] = "FROM scratch\nLABEL shop=1\n",
            })).Code);
            var build = await api.PostJsonAsync("/api/project/build", new { projectName = "shop", tag = "1.0", @operator = "e2e" });
            Assert.True(build.Code == 10000, $"{build.Code} {build.ErrMsg}\n" + string.Join("\n----\n", processes.Select(p => p.Output)));
            var id = build.Content.GetProperty("idStr").GetString()!;

            var history = await Eventually.Async(() => api.GetAsync("/api/project/buildHistory?projectName=shop").GetAwaiter().GetResult(),
                h => h.Content.GetProperty("data")[0].GetProperty("status").GetString() is "succeeded" or "failed", 120_000);
            var entry = history.Content.GetProperty("data")[0];
            Assert.True(entry.GetProperty("status").GetString() == "succeeded", entry.ToString());
            var digest = entry.GetProperty("imageDigest").GetString()!;

            // The image is in the Registry process.
            using (var registryHttp = new HttpClient { BaseAddress = registry.RestUrl })
            using (var head = new HttpRequestMessage(HttpMethod.Head, "/v2/default_cluster/shop/manifests/1.0"))
            {
                head.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
                head.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
                using var response = await registryHttp.SendAsync(head, Ct);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(digest, response.Headers.GetValues("Docker-Content-Digest").Single());
            }
            // Projects learned of it from the event, through the sidecar's pub/sub.
            var info = await Eventually.Async(() => api.InfoAsync("shop").GetAwaiter().GetResult(),
                i => i.Content.GetProperty("lastBuildStatus").GetString() == "succeeded", 30_000);
            Assert.Equal((id, digest), (info.Content.GetProperty("lastBuildId").GetString(), info.Content.GetProperty("lastBuildDigest").GetString()));

            // A build of a branch records a snapshot in the Containers process (svacer REST through the gateway).
            using var containerChannel = GrpcChannel.ForAddress(containers.GrpcUrl);
            var containerClient = new ContainersClient(containerChannel);
            var project = await containerClient.CreateProjectAsync(new Cv1.CreateProjectRequest { Name = "shop" }, cancellationToken: Ct);
            var branch = await containerClient.CreateBranchAsync(new Cv1.CreateBranchRequest { ProjectId = project.Id, Name = "main" }, cancellationToken: Ct);
            using var repo = await GitRepository.CreateAsync("main", new Dictionary<string, string> { ["README"] = "e2e" });
            using var buildsChannel = GrpcChannel.ForAddress(workerB.GrpcUrl);
            var buildsClient = new BuildRuns.BuildRunsClient(buildsChannel);
            var spec = Runs.Script("echo branch build");
            spec.Repos.Add(new RepoSpec { Url = repo.Url, Branch = "main" });
            var run = await buildsClient.StartRunAsync(new StartRunRequest { Spec = spec, Project = "shop", Tag = "main-1" }, cancellationToken: Ct);
            Assert.Equal(RunState.Succeeded, (await Runs.FinishedAsync(buildsClient, run.Id, 120)).State);
            var snapshot = await Eventually.Async(
                () => containerClient.ListSnapshots(new Cv1.ListSnapshotsRequest { BranchId = branch.Id }).Snapshots.FirstOrDefault(), s => s is not null, 30_000);
            Assert.Equal((run.Id, repo.Commit), (snapshot!.BuildRunId, snapshot.Commit));

            // The webhooks were delivered by the Registry process, from events that crossed the sidecar.
            await Eventually.Async(() => webhooks.BodiesAt("success").Count() + webhooks.BodiesAt("push").Count(), n => n >= 2, 30_000);
            Assert.Contains(webhooks.BodiesAt("push"), b => b.GetRawText().Contains("1.0"));

            // Every hop went through the sidecar: invocations by app id, events delivered to both subscribers.
            Assert.Contains(sidecar.Invocations, i => i.StartsWith("builds /buildgrid.builds.v1.BuildRuns/StartProjectBuild", StringComparison.Ordinal));
            Assert.Contains(sidecar.Invocations, i => i.StartsWith("projects /buildgrid.projects.v1.Projects/RenderDockerfile", StringComparison.Ordinal));
            Assert.Contains(sidecar.Deliveries, d => d is { App: "projects", Topic: "buildgrid.build.finished", Status: "SUCCESS" });
            Assert.Contains(sidecar.Deliveries, d => d is { App: "containers", Topic: "buildgrid.build.finished", Status: "SUCCESS" });
        }
        finally
        {
            if (gateway is not null) await gateway.DisposeAsync();
            foreach (var process in processes) await process.DisposeAsync();
            TestDirectories.TryDelete(root);
        }
    }
}
