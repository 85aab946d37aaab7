using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using BuildGrid.Builds.V1;
using Grpc.Net.Client;

namespace BuildGrid.Benchmarks;

/// <summary>
/// The image figures, offline, each against a baseline measured in the same run: (a) a 3-step plugin project
/// built and pushed by BuildGrid (queue time to finish time, the run's own timestamps) against bare
/// <c>buildah bud</c> + <c>buildah push</c> of the same Dockerfile in a fresh storage, first builds in alternating
/// rounds, then BuildGrid's cached rebuild against its first build; (c) a second pull of an image through a pull-through
/// cache namespace (upstream: docker-registry on loopback) against a direct pull of the same image pushed to BuildGrid.
/// The base image is busybox-static in an image made <c>from scratch</c>, so nothing comes from the internet.
/// </summary>
public static class ImagesBenchmark
{
    public static async Task RunAsync(int rounds)
    {
        var upstream = await RegistryBenchmark.StartDockerRegistryAsync();
        var work = Path.Combine(Path.GetTempPath(), "buildgrid-bench", "images-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            await using var buildgrid = await GatewayProcess.StartAsync(new Dictionary<string, string>
            {
                ["Builds__Workers"] = "1", ["Registry__ProxyCache__hub__Url"] = upstream.Url.ToString(),
            });
            var registry = buildgrid.RestUrl.Authority;
            await Buildah(work, "base", "from-scratch-busybox", $"{registry}/bench/busybox:1");
            await BuildsAsync(buildgrid, work, registry, rounds);
            await PullsAsync(buildgrid, work, registry, upstream.Url.Authority, rounds);
        }
        finally
        {
            upstream.Process.Kill();
            try { Directory.Delete(work, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            try { Directory.Delete(upstream.Dir, true); } catch (IOException) { }
        }
    }

    static async Task BuildsAsync(GatewayProcess buildgrid, string work, string registry, int rounds)
    {
        using var http = new HttpClient { BaseAddress = buildgrid.RestUrl };
        using var channel = GrpcChannel.ForAddress(buildgrid.GrpcUrl);
        var client = new BuildRuns.BuildRunsClient(channel);
        const string Run = "dd if=/dev/urandom of=/payload bs=1M count=8 2>/dev/null && echo built > /built.txt";
        var dockerfile = $"FROM {registry}/bench/busybox:1\nRUN {Run}\nLABEL benchmark=\"images\"\n";
        // Where a first build's time goes: the gaps between the worker's own log lines (their stored times).
        var firstSteps = new Dictionary<string, List<double>>();
        async Task<TimeSpan> BuildGridAsync(string project, string tag, Dictionary<string, List<double>>? steps = null)
        {
            using var response = await http.PostAsJsonAsync("/api/project/build", new { projectName = project, @operator = "root", tag });
            var id = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("content").GetProperty("idStr").GetString()!;
            while (true)
            {
                var run = await client.GetRunAsync(new GetRunRequest { Id = id });
                if (run.State is RunState.Failed or RunState.TimedOut or RunState.Cancelled)
                    throw new InvalidOperationException($"build {id} {run.State}: {run.FailureReason}");
                if (run.State == RunState.Succeeded)
                {
                    if (steps is not null)
                        await StepsAsync(client, run, steps);
                    return run.FinishTime.ToDateTimeOffset() - run.QueueTime.ToDateTimeOffset();
                }
                await Task.Delay(100);
            }
        }
        async Task<string> SaveAsync(string project)
        {
            using var response = await http.PostAsJsonAsync("/api/project/save", new Dictionary<string, object>
            {
                ["project"] = project, ["Cluster"] = "bench", ["addOrUpdate"] = "add", ["operator"] = "root",
                ["$$plugin"] = new object[]
                {
                    new { name = "base-image", @params = new { image = $"{registry}/bench/busybox:1" } },
                    new { name = "run", @params = new { command = Run } },
                    new { name = "label", @params = new { labels = new { benchmark = "images" } } },
                },
            });
            response.EnsureSuccessStatusCode();
            return project;
        }

        // Warm-up (unmeasured): the JIT, the first pull of the base.
        await BuildGridAsync(await SaveAsync("warmup"), "1");
        await BareAsync(work, dockerfile, $"{registry}/bench/bare:warmup");
        var ours = new List<double>();
        var bare = new List<double>();
        var cached = new List<double>();
        for (var round = 0; round < rounds; round++)
        {
            // ABBA: BuildGrid first in even rounds, bare buildah first in odd ones, so drift favours neither.
            var project = await SaveAsync($"p{round}");
            if (round % 2 == 0) ours.Add((await BuildGridAsync(project, "1", firstSteps)).TotalSeconds);
            bare.Add((await BareAsync(work, dockerfile, $"{registry}/bench/bare:{round}")).TotalSeconds);
            if (round % 2 == 1) ours.Add((await BuildGridAsync(project, "1", firstSteps)).TotalSeconds);
            cached.Add((await BuildGridAsync(project, "2")).TotalSeconds);
        }
        double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
        var first = Median(ours) / Median(bare);
        var rebuild = Median(cached) / Median(ours);
        Console.WriteLine($"3-step plugin project, first build + push ({rounds} rounds, medians; load {Load.Average}): BuildGrid {Median(ours):F2} s, "
            + $"bare buildah bud + push {Median(bare):F2} s, ratio {first:F2}   goal <= 1.15: {(first <= 1.15 ? "met" : "missed")}");
        Console.WriteLine("  BuildGrid's first build, medians: " + string.Join(", ", firstSteps.Select(s => $"{s.Key} {Median(s.Value):F2} s")));
        Console.WriteLine($"cached rebuild of the unchanged project: {Median(cached):F2} s, {rebuild:F2} x the first build   goal <= 0.3: {(rebuild <= 0.3 ? "met" : "missed")}");
    }

    /// <summary>The gaps between a run's queue time, start, step lines ("[buildgrid] buildah pull" ...) and finish time.</summary>
    static async Task StepsAsync(BuildRuns.BuildRunsClient client, Run run, Dictionary<string, List<double>> steps)
    {
        var log = (await client.ReadRunLogAsync(new ReadRunLogRequest { Id = run.Id })).Lines;
        var marks = new List<(string Name, DateTimeOffset At)> { ("queue", run.QueueTime.ToDateTimeOffset()), ("claim", run.StartTime.ToDateTimeOffset()) };
        foreach (var (prefix, name) in new[] { ("[buildgrid] buildah pull", "pull"), ("[buildgrid] buildah bud", "bud"), ("[buildgrid] buildah push", "push"), ("[buildgrid] pushed", "pushed") })
        {
            if (log.FirstOrDefault(l => l.Text.StartsWith(prefix, StringComparison.Ordinal)) is { } line)
                marks.Add((name, line.Time.ToDateTimeOffset()));
        }
        marks.Add(("finish", run.FinishTime.ToDateTimeOffset()));
        for (var i = 1; i < marks.Count; i++)
        {
            var key = $"{marks[i - 1].Name}->{marks[i].Name}";
            if (!steps.TryGetValue(key, out var values)) steps[key] = values = [];
            values.Add((marks[i].At - marks[i - 1].At).TotalSeconds);
        }
    }

    /// <summary>
    /// Bare buildah, as a user would run it by hand, the same steps BuildGrid's run does: pull the base, bud (chroot
    /// isolation, vfs, --layers), push. The pull is bud's own (a fresh storage holds no base, so bud fetches it from
    /// BuildGrid's registry), where BuildGrid runs it as a step of its own before a bud without network; both push.
    /// </summary>
    static async Task<TimeSpan> BareAsync(string work, string dockerfile, string target)
    {
        var dir = Path.Combine(work, "bare-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(Path.Combine(dir, "Dockerfile"), dockerfile);
        var stopwatch = Stopwatch.StartNew();
        await Buildah(dir, "bare", "bud-push", target);
        var elapsed = stopwatch.Elapsed;
        try { Directory.Delete(dir, true); } catch (IOException) { }
        return elapsed;
    }

    /// <summary>
    /// The buildah steps of this benchmark as one bash script, in a storage under <paramref name="dir"/>:
    /// from-scratch-busybox pushes a busybox base to the target, bud-push builds the folder's Dockerfile and pushes it,
    /// payload pushes an image with a 64 MB random layer to each target (space-separated).
    /// </summary>
    static async Task Buildah(string dir, string storage, string what, string target)
    {
        var script = $$"""
            set -e
            b() { buildah --root {{dir}}/{{storage}}/root --runroot {{dir}}/{{storage}}/run --storage-driver vfs "$@"; }
            case {{what}} in
              from-scratch-busybox)
                c=$(b from scratch); b copy $c "$(command -v busybox)" /bin/busybox >/dev/null
                b run --isolation chroot $c /bin/busybox --install -s /bin; b commit -q $c base >/dev/null
                b push -q --tls-verify=false base docker://{{target}} ;;
              bud-push)
                b bud -q --isolation chroot --layers --tls-verify=false -t localhost/bare {{dir}} >/dev/null
                b push -q --tls-verify=false localhost/bare docker://{{target}} ;;
              payload)
                head -c 67108864 /dev/urandom > {{dir}}/payload.bin
                c=$(b from scratch); b copy $c {{dir}}/payload.bin /payload.bin >/dev/null; b commit -q $c payload >/dev/null
                for t in {{target}}; do b push -q --tls-verify=false payload docker://$t; done ;;
            esac
            """;
        var start = new ProcessStartInfo("bash", ["-c", script]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"buildah {what} failed: {await output}{await error}");
    }

    static async Task PullsAsync(GatewayProcess buildgrid, string work, string registry, string upstream, int rounds)
    {
        await Buildah(work, "payload", "payload", $"{upstream}/bench/payload:1 {registry}/bench/direct:1");
        async Task<double> PullAsync(string reference)
        {
            var dir = Path.Combine(work, "pull-" + Guid.NewGuid().ToString("N"));
            var stopwatch = Stopwatch.StartNew();
            using (var process = Process.Start(new ProcessStartInfo("skopeo", ["copy", "-q", "--src-tls-verify=false", $"docker://{reference}", $"dir:{dir}"])
                   { UseShellExecute = false, RedirectStandardError = true })!)
            {
                var error = process.StandardError.ReadToEndAsync();
                await process.WaitForExitAsync();
                if (process.ExitCode != 0) throw new InvalidOperationException($"skopeo copy {reference}: {await error}");
            }
            var seconds = stopwatch.Elapsed.TotalSeconds;
            Directory.Delete(dir, true);
            return seconds;
        }
        await PullAsync($"{registry}/hub/bench/payload:1");   // the first pull through the cache fetches from the upstream (unmeasured)
        await PullAsync($"{registry}/bench/direct:1");
        var cache = new List<double>();
        var direct = new List<double>();
        for (var round = 0; round < Math.Max(rounds, 3) * 2; round++)
        {
            if (round % 2 == 0) cache.Add(await PullAsync($"{registry}/hub/bench/payload:1"));
            direct.Add(await PullAsync($"{registry}/bench/direct:1"));
            if (round % 2 == 1) cache.Add(await PullAsync($"{registry}/hub/bench/payload:1"));
        }
        double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
        var speed = Median(direct) / Median(cache);
        Console.WriteLine($"64 MB image pulled with skopeo ({cache.Count} pulls each, medians): through the cache (second and later pulls) {Median(cache):F2} s, "
            + $"direct from BuildGrid {Median(direct):F2} s; speed ratio {speed:F2}   goal >= 0.9: {(speed >= 0.9 ? "met" : "missed")}");
    }
}
