using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BuildGrid.Builds.V1;
using Grpc.Net.Client;
using ContainersClient = BuildGrid.Containers.V1.Containers.ContainersClient;
using Cv1 = BuildGrid.Containers.V1;

namespace BuildGrid.Benchmarks;

/// <summary>
/// Issue 7's fault figures, full size. The tye layout without Dapr — redis-server, Projects, Containers, Registry, two
/// Builds workers and the gateway, each its own process on fixed loopback ports, events through Redis — runs rounds of
/// N concurrent builds (a git checkout and a 2 s script each) and M concurrent image pushes (3 MB layers). The first
/// round has no fault (the baseline); each following round kills one process kind with SIGKILL once a fifth of the
/// builds are done and restarts it a second later (Redis: restarted empty, as after a crash without persistence).
/// Per round: builds/min and its ratio to the baseline, runs lost, runs whose attempts overlapped, corrupt or missing
/// images and blobs, build.finished events missing or applied twice (Containers snapshots, Projects' last build), and
/// the time from the kill until the process answered again and until a build finished after that.
/// </summary>
public static class FaultsBenchmark
{
    const string Script = "echo \"$TASK_ID $BUILD_ATTEMPT start $(date +%s%N)\" >> \"{0}\"\nsleep 2\necho \"$TASK_ID $BUILD_ATTEMPT end $(date +%s%N)\" >> \"{0}\"";
    static readonly System.Text.CompositeFormat ScriptFormat = System.Text.CompositeFormat.Parse(Script);

    public static async Task<int> RunAsync(int builds, int pushes)
    {
        var root = Path.Combine(Path.GetTempPath(), "buildgrid-bench", "faults-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        var layout = new Layout(root);
        try
        {
            await layout.StartAsync();
            var repo = await CreateRepositoryAsync(Path.Combine(root, "git"));
            // No fault first and last: the baseline is their mean, which evens out the drift of a shared machine.
            string[] faults = ["none", "builds worker", "projects", "containers", "registry", "gateway", "redis", "none"];
            Console.WriteLine($"faults: {builds} concurrent builds and {pushes} concurrent pushes per round; 2 Builds workers x 4 slots; one SIGKILL + restart per round");
            // A warm-up round (not reported): JIT, connection pools and SQLite caches, so that the baseline is not a cold start.
            await RoundAsync(layout, repo, faults.Length, "none", Math.Min(builds, 16), Math.Min(pushes, 4));
            var results = new List<RoundResult>();
            for (var round = 0; round < faults.Length; round++)
                results.Add(await RoundAsync(layout, repo, round, faults[round], builds, pushes));
            var baseline = (results[0].BuildsPerMinute + results[^1].BuildsPerMinute) / 2;
            var failures = results.Sum(r => r.Lost + r.Overlapping + r.Corrupt + r.EventsMissing + r.EventsTwice);
            Console.WriteLine($"{"fault",-14} {"builds/min",10} {"ratio",6} {"lost",5} {"overlap",8} {"retried",8} {"corrupt",8} {"ev.miss",8} {"ev.twice",8} {"answers",8} {"progress",9}");
            for (var round = 0; round < faults.Length; round++)
            {
                var result = results[round];
                Console.WriteLine($"{faults[round],-14} {result.BuildsPerMinute,10:F1} {result.BuildsPerMinute / baseline,6:F2} {result.Lost,5} {result.Overlapping,8} " +
                    $"{result.Retried,8} {result.Corrupt,8} {result.EventsMissing,8} {result.EventsTwice,8} {Seconds(result.Answers),8} {Seconds(result.Progress),9}");
            }
            Console.WriteLine($"ratio: builds/min against the mean of the two rounds without a fault ({baseline:F1})");
            Console.WriteLine("lost: runs not succeeded; overlap: a retry started before the killed attempt's last sign of life; retried: runs with more than one attempt;");
            Console.WriteLine("corrupt: blobs whose content differs from their digest, plus pushed images missing; ev.miss/ev.twice: build.finished events not applied / applied twice");
            Console.WriteLine("(Containers snapshot per run, Projects' last build); answers: kill -> the restarted process answers /healthz; progress: kill -> a build finished after that");
            Console.WriteLine($"goal: 0 in every loss column; {(failures == 0 ? "met" : $"NOT met ({failures})")}");
            return failures == 0 ? 0 : 1;
        }
        finally
        {
            await layout.DisposeAsync();
            try { Directory.Delete(root, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    static string Seconds(TimeSpan? time) => time is { } t ? $"{t.TotalSeconds:F1}s" : "-";

    sealed record RoundResult(double BuildsPerMinute, int Lost, int Overlapping, int Retried, int Corrupt, int EventsMissing, int EventsTwice,
        TimeSpan? Answers, TimeSpan? Progress);

    static async Task<RoundResult> RoundAsync(Layout layout, string repo, int round, string fault, int builds, int pushes)
    {
        var project = $"r{round}";
        var completed = Path.Combine(layout.Root, $"completed-{round}");
        using var http = new HttpClient { BaseAddress = layout.Gateway.RestUrl, Timeout = TimeSpan.FromSeconds(10) };
        using (var created = await http.PostAsync("/api/project/new", Json($"{{\"projectName\":\"{project}\",\"operator\":\"bench\"}}")))
            created.EnsureSuccessStatusCode();
        using var containersChannel = GrpcChannel.ForAddress(layout.Containers.GrpcUrl);
        var containers = new ContainersClient(containersChannel);
        var containersProject = await containers.CreateProjectAsync(new Cv1.CreateProjectRequest { Name = project });
        var branch = await containers.CreateBranchAsync(new Cv1.CreateBranchRequest { ProjectId = containersProject.Id, Name = "main" });

        using var buildsChannel = GrpcChannel.ForAddress(layout.WorkerA.GrpcUrl);
        var runsClient = new BuildRuns.BuildRunsClient(buildsChannel);
        var stopwatch = Stopwatch.StartNew();
        var runs = new List<string>();
        for (var i = 0; i < builds; i++)
        {
            var spec = new RunSpec { Script = string.Format(System.Globalization.CultureInfo.InvariantCulture, ScriptFormat, completed), TimeoutSeconds = 300 };
            spec.Repos.Add(new RepoSpec { Url = repo, Branch = "main" });
            runs.Add((await runsClient.StartRunAsync(new StartRunRequest { Spec = spec, Project = project, Tag = $"t{i}" })).Id);
        }

        // The pushes: each client retries until its image is in (a killed registry fails uploads in flight).
        using var registryHttp = new HttpClient { BaseAddress = layout.Registry.RestUrl, Timeout = TimeSpan.FromSeconds(20) };
        var images = Enumerable.Range(0, pushes).Select(_ => RandomNumberGenerator.GetBytes(3 << 20)).ToList();
        var pushTasks = images.Select((layer, i) => Task.Run(() => PushWithRetriesAsync(registryHttp, $"{project}/app{i}", layer))).ToList();

        var finished = new Dictionary<string, Run>();
        async Task PollAsync()
        {
            foreach (var id in runs.Where(id => !finished.ContainsKey(id)).ToList())
            {
                try
                {
                    var run = await runsClient.GetRunAsync(new GetRunRequest { Id = id }, deadline: DateTime.UtcNow.AddSeconds(5));
                    if (run.State is not (RunState.Queued or RunState.Running or RunState.Unspecified))
                        finished[id] = run;
                }
                catch (Grpc.Core.RpcException) { }
            }
        }

        TimeSpan? answers = null, progress = null;
        if (fault != "none")
        {
            // A fifth of the builds done; a killed worker must be in the middle of one.
            while (finished.Count < builds / 5 || fault == "builds worker" && !await layout.WorkerB.RunningAnyAsync(runsClient, runs.Except(finished.Keys)))
            {
                await PollAsync();
                await Task.Delay(100);
            }
            var killedAt = stopwatch.Elapsed;
            await layout.KillAsync(fault);
            await Task.Delay(1000);
            await layout.RestartAsync(fault);
            answers = stopwatch.Elapsed - killedAt;
            var before = finished.Count;
            while (finished.Count == before && finished.Count < builds)
            {
                await PollAsync();
                await Task.Delay(50);
            }
            progress = stopwatch.Elapsed - killedAt;
        }
        var deadline = DateTime.UtcNow.AddMinutes(10);
        while (finished.Count < builds && DateTime.UtcNow < deadline)
        {
            await PollAsync();
            await Task.Delay(200);
        }
        var lastFinish = finished.Values.Select(r => r.FinishTime.ToDateTimeOffset()).DefaultIfEmpty(DateTimeOffset.UtcNow).Max();
        var firstQueue = finished.Values.Select(r => r.QueueTime.ToDateTimeOffset()).DefaultIfEmpty(DateTimeOffset.UtcNow).Min();
        var perMinute = finished.Count / Math.Max(0.001, (lastFinish - firstQueue).TotalMinutes);
        var lost = runs.Count(id => !finished.TryGetValue(id, out var run) || run.State != RunState.Succeeded);
        var retried = finished.Values.Count(r => r.Attempt > 1);

        // Attempts of one run never overlap: each starts after the previous attempt's last line.
        var records = File.Exists(completed)
            ? (await File.ReadAllLinesAsync(completed)).Select(l => l.Split(' ')).Where(f => f.Length == 4)
                .Select(f => (Run: f[0], Attempt: int.Parse(f[1]), Kind: f[2], At: long.Parse(f[3]))).ToList()
            : [];
        var overlapping = 0;
        foreach (var group in records.GroupBy(r => r.Run))
        {
            var attempts = group.GroupBy(r => r.Attempt).OrderBy(g => g.Key).ToList();
            var bad = attempts.Any(a => a.Count(r => r.Kind == "start") > 1);
            for (var i = 1; i < attempts.Count; i++)
                bad |= attempts[i].Where(r => r.Kind == "start").Min(r => r.At) <= attempts[i - 1].Max(r => r.At);
            if (bad) overlapping++;
        }

        // Every image is there with its digest; no blob on disk differs from its name.
        var pushed = await Task.WhenAll(pushTasks);
        var corrupt = 0;
        for (var i = 0; i < pushes; i++)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Head, $"/v2/{project}/app{i}/manifests/1");
                request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
                using var response = await registryHttp.SendAsync(request);
                if (response.StatusCode != HttpStatusCode.OK || pushed[i] is null
                    || response.Headers.GetValues("Docker-Content-Digest").Single() != pushed[i])
                    corrupt++;
            }
            catch (HttpRequestException) { corrupt++; }
        }
        foreach (var file in Directory.EnumerateFiles(Path.Combine(layout.Root, "registry", "registry", "blobs"), "*", SearchOption.AllDirectories))
        {
            await using var stream = File.OpenRead(file);
            if (Path.GetFileName(file) != Convert.ToHexStringLower(await SHA256.HashDataAsync(stream)))
                corrupt++;
        }

        // build.finished applied once: one Containers snapshot per run, and Projects' last build is the latest run.
        var snapshotDeadline = DateTime.UtcNow.AddSeconds(90);
        List<Cv1.Snapshot> snapshots;
        while (true)
        {
            snapshots = (await containers.ListSnapshotsAsync(new Cv1.ListSnapshotsRequest { BranchId = branch.Id, PageSize = 100 })).Snapshots.ToList();
            if (snapshots.Count >= builds - lost || DateTime.UtcNow > snapshotDeadline) break;
            await Task.Delay(500);
        }
        await Task.Delay(2000);   // late duplicates
        snapshots = (await containers.ListSnapshotsAsync(new Cv1.ListSnapshotsRequest { BranchId = branch.Id, PageSize = 100 })).Snapshots.ToList();
        var perRun = snapshots.GroupBy(s => s.BuildRunId).ToDictionary(g => g.Key, g => g.Count());
        var missing = finished.Values.Count(r => r.State == RunState.Succeeded && !perRun.ContainsKey(r.Id));
        var twice = perRun.Values.Count(n => n > 1);
        var latest = finished.Values.Where(r => r.FinishTime.ToDateTimeOffset() == lastFinish).Select(r => r.Id).ToHashSet();
        var projectDeadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using var info = JsonDocument.Parse(await http.GetStringAsync($"/api/project/info?projectName={project}"));
            if (latest.Contains(info.RootElement.GetProperty("content").GetProperty("lastBuildId").GetString() ?? "")) break;
            if (DateTime.UtcNow > projectDeadline) { missing++; break; }
            await Task.Delay(500);
        }
        return new RoundResult(perMinute, lost, overlapping, retried, corrupt, missing, twice, answers, progress);
    }

    static async Task<string?> PushWithRetriesAsync(HttpClient http, string repository, byte[] layer)
    {
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (true)
        {
            try
            {
                return await PushImageAsync(http, repository, layer);
            }
            catch (Exception) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
            catch (Exception)
            {
                return null;
            }
        }
    }

    /// <summary>An OCI image of one layer: POST+PUT for each blob, then the manifest; answers the manifest digest.</summary>
    static async Task<string> PushImageAsync(HttpClient http, string repository, byte[] layer)
    {
        var config = Encoding.UTF8.GetBytes("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}");
        var layerDigest = await PushBlobAsync(http, repository, layer);
        var configDigest = await PushBlobAsync(http, repository, config);
        var manifest = Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"," +
            $"\"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"{configDigest}\",\"size\":{config.Length}}}," +
            $"\"layers\":[{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"{layerDigest}\",\"size\":{layer.Length}}}]}}");
        var content = new ByteArrayContent(manifest);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.oci.image.manifest.v1+json");
        using var response = await http.PutAsync($"/v2/{repository}/manifests/1", content);
        if (response.StatusCode != HttpStatusCode.Created) throw new InvalidOperationException($"manifest put: {response.StatusCode}");
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(manifest));
    }

    static async Task<string> PushBlobAsync(HttpClient http, string repository, byte[] blob)
    {
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(blob));
        using var post = await http.PostAsync($"/v2/{repository}/blobs/uploads/", null);
        if (post.StatusCode != HttpStatusCode.Accepted) throw new InvalidOperationException($"upload start: {post.StatusCode}");
        var location = post.Headers.Location!.ToString();
        var content = new ByteArrayContent(blob);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var put = await http.PutAsync(location + (location.Contains('?') ? "&" : "?") + "digest=" + digest, content);
        if (put.StatusCode != HttpStatusCode.Created) throw new InvalidOperationException($"upload put: {put.StatusCode}");
        return digest;
    }

    static async Task<string> CreateRepositoryAsync(string dir)
    {
        var work = Path.Combine(dir, "work");
        Directory.CreateDirectory(work);
        await File.WriteAllTextAsync(Path.Combine(work, "README"), "faults");
        foreach (var args in new[] { new[] { "init", "-q", "-b", "main" }, ["add", "-A"], ["-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m", "first"],
                     ["clone", "-q", "--bare", work, Path.Combine(dir, "app.git")] })
        {
            using var git = Process.Start(new ProcessStartInfo("git", args) { WorkingDirectory = args[0] == "clone" ? dir : work, UseShellExecute = false })!;
            await git.WaitForExitAsync();
            if (git.ExitCode != 0) throw new InvalidOperationException($"git {string.Join(' ', args)} failed");
        }
        return "file://" + Path.Combine(dir, "app.git");
    }

    static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    /// <summary>The seven processes of the layout, each on fixed ports so that a restarted one is found where it was.</summary>
    sealed class Layout(string root) : IAsyncDisposable
    {
        readonly int redisPort = FreePort();
        Process? redis;
        public string Root => root;
        public Node Projects { get; } = new("BuildGrid.Projects", "projects");
        public Node Containers { get; } = new("BuildGrid.Containers", "containers");
        public Node Registry { get; } = new("BuildGrid.Registry", "registry");
        public Node WorkerA { get; } = new("BuildGrid.Builds", "builds");
        public Node WorkerB { get; } = new("BuildGrid.Builds", "builds");
        public Node Gateway { get; } = new("BuildGrid.Standalone", "gateway");
        IEnumerable<Node> Nodes => [Projects, Containers, Registry, WorkerA, WorkerB, Gateway];

        public async Task StartAsync()
        {
            await StartRedisAsync();
            foreach (var node in Nodes)
                await node.StartAsync(Environment(node));
        }

        Dictionary<string, string> Environment(Node node)
        {
            var env = new Dictionary<string, string>
            {
                ["BUILDGRID_DATA_DIR"] = Path.Combine(root, node.DataDir),
                ["BUILDGRID_REDIS"] = $"127.0.0.1:{redisPort},abortConnect=false",
                ["Logging__LogLevel__Default"] = "Warning",
            };
            if (node.DataDir == "builds")
            {
                env["BUILDGRID_PROJECTS_URL"] = Projects.GrpcUrl.ToString();
                env["Builds__Registry"] = Registry.RestUrl.Authority;
                env["Builds__Workers"] = "4";
                env["Builds__Lease"] = "00:00:05";
                env["Builds__ReaperInterval"] = "00:00:01";
            }
            if (node == Gateway)
            {
                env["BUILDGRID_PROJECTS_URL"] = Projects.GrpcUrl.ToString();
                env["BUILDGRID_CONTAINERS_URL"] = Containers.GrpcUrl.ToString();
                env["BUILDGRID_REGISTRY_URL"] = Registry.GrpcUrl.ToString();
                env["BUILDGRID_BUILDS_URL"] = WorkerA.GrpcUrl.ToString();
            }
            return env;
        }

        Node Target(string fault) => fault switch
        {
            "builds worker" => WorkerB,
            "projects" => Projects,
            "containers" => Containers,
            "registry" => Registry,
            "gateway" => Gateway,
            _ => throw new ArgumentException(fault),
        };

        public async Task KillAsync(string fault)
        {
            if (fault == "redis")
            {
                redis!.Kill();
                await redis.WaitForExitAsync();
                return;
            }
            await Target(fault).KillAsync();
        }

        public async Task RestartAsync(string fault)
        {
            if (fault == "redis")
                await StartRedisAsync();
            else
                await Target(fault).StartAsync(Environment(Target(fault)));
        }

        async Task StartRedisAsync()
        {
            // No persistence: a restart comes back empty, so the build queue must be rebuilt from SQL.
            redis = Process.Start(new ProcessStartInfo("redis-server", ["--port", redisPort.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            { RedirectStandardOutput = true, UseShellExecute = false })!;
            redis.OutputDataReceived += (_, _) => { };
            redis.BeginOutputReadLine();
            for (var i = 0; ; i++)
            {
                try
                {
                    using var client = new TcpClient();
                    await client.ConnectAsync(IPAddress.Loopback, redisPort);
                    return;
                }
                catch (SocketException) when (i < 200)
                {
                    await Task.Delay(25);
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var node in Nodes) await node.KillAsync();
            if (redis is { HasExited: false }) { redis.Kill(); await redis.WaitForExitAsync(); }
        }
    }

    /// <summary>One BuildGrid process (a service's or the gateway's Release build) on fixed REST and gRPC ports.</summary>
    sealed class Node(string project, string dataDir)
    {
        Process? process;
        public string DataDir => dataDir;
        public Uri RestUrl { get; } = new($"http://127.0.0.1:{FreePort()}");
        public Uri GrpcUrl { get; } = new($"http://127.0.0.1:{FreePort()}");

        public async Task StartAsync(IDictionary<string, string> environment)
        {
            var root = AppContext.BaseDirectory;
            while (!File.Exists(Path.Combine(root, "BuildGrid.sln"))) root = Path.GetDirectoryName(root.TrimEnd('/'))!;
            var dll = Path.Combine(root, project is "BuildGrid.Gateway" or "BuildGrid.Standalone" ? "gateway" : "services", project, "bin", "Release", "net10.0", project + ".dll");
            if (!File.Exists(dll)) throw new FileNotFoundException("Build Release first: dotnet build -c Release", dll);
            var start = new ProcessStartInfo("dotnet", [dll]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            start.Environment["BUILDGRID_REST_URL"] = RestUrl.ToString();
            start.Environment["BUILDGRID_GRPC_URL"] = GrpcUrl.ToString();
            foreach (var (key, value) in environment) start.Environment[key] = value;
            process = Process.Start(start)!;
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                try
                {
                    using var health = await http.GetAsync(new Uri(RestUrl, "/healthz"));
                    if (health.IsSuccessStatusCode) return;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
                if (process.HasExited || DateTime.UtcNow > deadline) throw new InvalidOperationException($"{project} did not start");
                await Task.Delay(20);
            }
        }

        /// <summary>Whether this (Builds) process is executing one of the runs now.</summary>
        public async Task<bool> RunningAnyAsync(BuildRuns.BuildRunsClient client, IEnumerable<string> runs)
        {
            foreach (var id in runs)
            {
                var run = await client.GetRunAsync(new GetRunRequest { Id = id });
                if (run.State == RunState.Running && run.Worker.Contains($":{process!.Id}:", StringComparison.Ordinal))
                    return true;
            }
            return false;
        }

        public async Task KillAsync()
        {
            if (process is { HasExited: false })
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
