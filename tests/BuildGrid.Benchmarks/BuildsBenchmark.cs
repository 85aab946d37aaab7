using BuildGrid.Standalone;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using BuildGrid.Builds.Queue;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Hosting;
using BuildGrid.Gateway;
using BuildGrid.Gateway.Hosting;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace BuildGrid.Benchmarks;

/// <summary>
/// The build queue's figures. (1) The queue's Redis round trip (enqueue = LPUSH + PUBLISH, take = RPOP) against raw LPUSH + LMOVE
/// pairs on the same server in the same run, on redis-server and on Garnet; (2) the whole cycle with SQL (store, claim,
/// finish); (3) enqueue → script start latency with an idle worker; (4) 500 trivial runs through 2 worker processes.
/// </summary>
public static class BuildsBenchmark
{
    public static async Task RunAsync(int operations, bool latencyOnly = false, int idleMs = 500)
    {
        var redisServer = StartRedis(out var redisPort);
        try
        {
            if (latencyOnly)
            {
                await LatencyAndThroughputAsync($"127.0.0.1:{redisPort}", throughput: false, idleMs);
                return;
            }
            await QueueRatioAsync("redis-server", $"127.0.0.1:{redisPort}", operations);
            var garnetDir = Path.Combine(Path.GetTempPath(), "buildgrid-bench", Guid.NewGuid().ToString("N"));
            var host = BuildGridHost.Create(["--BUILDGRID_REST_URL=http://127.0.0.1:0", "--BUILDGRID_GRPC_URL=http://127.0.0.1:0",
                $"--BUILDGRID_DATA_DIR={garnetDir}", "--Logging:LogLevel:Default=Warning", "--Builds:Workers=0"]);
            await host.StartAsync();
            await QueueRatioAsync("Garnet (embedded)", host.Services.GetRequiredService<EmbeddedGarnet>().ConnectionString, operations);
            await host.StopAsync();

            await LatencyAndThroughputAsync($"127.0.0.1:{redisPort}", idleMs: idleMs);
        }
        finally
        {
            redisServer.Kill();
        }
    }

    static async Task QueueRatioAsync(string name, string endpoint, int operations)
    {
        await using var mux = await ConnectionMultiplexer.ConnectAsync(endpoint);
        var db = mux.GetDatabase();
        var queue = new BuildQueue(new RedisConnection(() => endpoint),
            new SignedMessages(new BuildGrid.Core.Identity.IdentitySettings { ServiceKey = new byte[32] }, Microsoft.Extensions.Logging.Abstractions.NullLogger<SignedMessages>.Instance));
        const int Parallel = 16;
        async Task<double> Measure(Func<int, Task> op)
        {
            var stopwatch = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, Parallel).Select(async w =>
            {
                for (var i = w; i < operations; i += Parallel) await op(i);
            }));
            return operations / stopwatch.Elapsed.TotalSeconds;
        }
        var raw = 0.0;
        var ours = 0.0;
        for (var round = 0; round < 3; round++)   // alternate, keep the best of each, so load drift hits both
        {
            await db.KeyDeleteAsync(["bench:q", "bench:p"]);
            raw = Math.Max(raw, await Measure(async i =>
            {
                await db.ListLeftPushAsync("bench:q", i);
                await db.ListMoveAsync("bench:q", "bench:p", ListSide.Right, ListSide.Left);
            }));
            ours = Math.Max(ours, await Measure(async i =>
            {
                await queue.EnqueueAsync($"run-{i}", CancellationToken.None);
                await queue.DequeueAsync(CancellationToken.None);
            }));
        }
        Console.WriteLine($"{name,-20} raw LPUSH+LMOVE {raw,9:F0} pairs/s   BuildQueue enqueue+take {ours,9:F0} /s   ratio {ours / raw:F2} (goal >= 0.5)");
    }

    /// <summary>(3) and, with <paramref name="throughput"/>, (4); <c>builds --latency</c> runs (3) alone.</summary>
    public static async Task LatencyAndThroughputAsync(string redis, bool throughput = true, int idleMs = 500)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "buildgrid-bench", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDir);
        var environment = new Dictionary<string, string>
        {
            ["BUILDGRID_REDIS"] = redis, ["BUILDGRID_DATA_DIR"] = dataDir, ["Builds__Workers"] = "4", ["Logging__LogLevel__Default"] = "Warning",
        };
        await using var first = await ServiceHost.StartAsync("BuildGrid.Builds", environment);
        using var channel = GrpcChannel.ForAddress(first.GrpcUrl);
        var client = new BuildRuns.BuildRunsClient(channel);

        // (3) Idle worker: queue one run at a time; the script's first act is to print the clock. Measured from the run's
        // own queue time (recorded when it was stored, before the enqueue) to that clock, both this machine's; the run is
        // awaited with a slow poll, so that the poll loop does not compete with the worker for the 2 cores. Twice: back to
        // back (the next run queued as soon as the poll saw the last one finish: its warm sandbox may still be starting),
        // and idle (at least idleMs after the worker's last run ended, so its warm sandbox has had time to start).
        await LatencyAsync(client, "back to back", TimeSpan.Zero);
        await LatencyAsync(client, $"idle >= {idleMs} ms", TimeSpan.FromMilliseconds(idleMs));
        if (!throughput)
            return;

        // (4) 500 trivial runs through two worker processes sharing the queue and the database.
        await using var second = await ServiceHost.StartAsync("BuildGrid.Builds", environment);
        var executions = Path.Combine(dataDir, "executions");
        var stopwatch = Stopwatch.StartNew();
        var ids = await Task.WhenAll(Enumerable.Range(0, 500).Select(async i =>
            (await client.StartRunAsync(new StartRunRequest { Spec = new RunSpec { Script = $"echo $TASK_ID >> {executions}", TimeoutSeconds = 120 } })).Id));
        var finished = await WaitAsync(client, ids);
        var seconds = stopwatch.Elapsed.TotalSeconds;
        var lines = await File.ReadAllLinesAsync(executions);
        var succeeded = finished.Count(r => r.State == RunState.Succeeded);
        var workers = finished.Select(r => r.Worker.Split(':')[1]).Distinct().Count();
        Console.WriteLine($"500 trivial runs, 2 worker processes x 4 slots: {500 / seconds:F1} runs/s ({seconds:F1} s); succeeded {succeeded}, " +
            $"lost {500 - lines.Distinct().Count()}, executed twice {lines.Length - lines.Distinct().Count()}, processes used {workers}");
        try { Directory.Delete(dataDir, true); } catch (IOException) { }
    }

    static async Task LatencyAsync(BuildRuns.BuildRunsClient client, string label, TimeSpan idle)
    {
        var latencies = new List<double>();
        // Where the time goes, from the worker's own log lines (their stored times, in ms): queue -> claimed (the run's
        // start time), claimed -> sandbox ready (log, workspace, sandbox record: the "sandbox:" line), -> script file
        // written (the "running the build script" line), -> the script's first act (processes: the stub's sh, bwrap, bash).
        var phases = new[] { "queue -> claimed", "claimed -> sandbox ready", "sandbox -> script written", "script written -> script start" }
            .Select(name => (Name: name, Values: new List<double>())).ToArray();
        var lastFinish = DateTimeOffset.MinValue;
        for (var i = 0; i < 110; i++)
        {
            if (lastFinish + idle - DateTimeOffset.UtcNow is { Ticks: > 0 } wait)
                await Task.Delay(wait);
            var run = await client.StartRunAsync(new StartRunRequest { Spec = new RunSpec { Script = "date +%s%N", TimeoutSeconds = 60 } });
            var done = (await WaitAsync(client, [run.Id], TimeSpan.FromMilliseconds(200)))[0];
            lastFinish = done.FinishTime.ToDateTimeOffset();
            var log = (await client.ReadRunLogAsync(new ReadRunLogRequest { Id = run.Id })).Lines;
            var started = long.Parse(log.Select(l => l.Text).First(t => t.Length > 0 && t.All(char.IsAsciiDigit)));
            var scriptStart = DateTimeOffset.UnixEpoch.AddTicks(started / 100);
            if (i < 10) continue;   // warm-up
            var queued = done.QueueTime.ToDateTimeOffset();
            var claimed = done.StartTime.ToDateTimeOffset();
            DateTimeOffset LineTime(string prefix) => log.First(l => l.Text.StartsWith(prefix, StringComparison.Ordinal)).Time.ToDateTimeOffset();
            var sandboxReady = LineTime("[buildgrid] sandbox:");
            var written = LineTime("[buildgrid] running the build script");
            latencies.Add((scriptStart - queued).TotalMilliseconds);
            phases[0].Values.Add((claimed - queued).TotalMilliseconds);
            phases[1].Values.Add((sandboxReady - claimed).TotalMilliseconds);
            phases[2].Values.Add((written - sandboxReady).TotalMilliseconds);
            phases[3].Values.Add((scriptStart - written).TotalMilliseconds);
        }
        static double Percentile(List<double> values, double p) => Load.Percentile([.. values.Order()], p);
        var p99 = Percentile(latencies, 0.99);
        Console.WriteLine($"enqueue -> script start, {label} ({latencies.Count} runs, the run's queue time to the script's clock; load {Load.Average}): "
            + $"p50 {Percentile(latencies, 0.5):F1} ms  p99 {p99:F1} ms   goal p99 < 50 ms: {(p99 < 50 ? "met" : "missed")}");
        foreach (var (name, values) in phases)
            Console.WriteLine($"  {name,-32} p50 {Percentile(values, 0.5),6:F1} ms  p90 {Percentile(values, 0.9),6:F1} ms  p99 {Percentile(values, 0.99),6:F1} ms");
    }

    static async Task<List<Run>> WaitAsync(BuildRuns.BuildRunsClient client, IReadOnlyList<string> ids, TimeSpan? poll = null)
    {
        var pending = new HashSet<string>(ids);
        var done = new List<Run>();
        var deadline = DateTime.UtcNow.AddMinutes(10);
        while (pending.Count > 0 && DateTime.UtcNow < deadline)
        {
            foreach (var id in pending.ToList())
            {
                var run = await client.GetRunAsync(new GetRunRequest { Id = id });
                if (run.State is RunState.Succeeded or RunState.Failed or RunState.TimedOut or RunState.Cancelled)
                {
                    pending.Remove(id);
                    done.Add(run);
                }
            }
            if (pending.Count > 0) await Task.Delay(poll ?? TimeSpan.FromMilliseconds(200));
        }
        return done;
    }

    /// <summary>A redis-server on a free loopback port, without persistence.</summary>
    internal static Process StartRedis(out int port)
    {
        using (var listener = new TcpListener(IPAddress.Loopback, 0)) { listener.Start(); port = ((IPEndPoint)listener.LocalEndpoint).Port; }
        var process = Process.Start(new ProcessStartInfo("redis-server", ["--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        { RedirectStandardOutput = true, UseShellExecute = false })!;
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        Thread.Sleep(300);
        return process;
    }
}

/// <summary>A service's Release build as its own process, its addresses read from its "BuildGrid listening" log line.</summary>
public sealed class ServiceHost : IAsyncDisposable
{
    readonly Process process;
    public Uri GrpcUrl { get; }
    ServiceHost(Process process, Uri grpc) => (this.process, GrpcUrl) = (process, grpc);

    public static async Task<ServiceHost> StartAsync(string project, IDictionary<string, string> environment)
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "BuildGrid.sln"))) root = Path.GetDirectoryName(root.TrimEnd('/'))!;
        var dll = Path.Combine(root, "services", project, "bin", "Release", "net10.0", project + ".dll");
        var start = new ProcessStartInfo("dotnet", [dll]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["BUILDGRID_REST_URL"] = "http://127.0.0.1:0";
        start.Environment["BUILDGRID_GRPC_URL"] = "http://127.0.0.1:0";
        start.Environment["Logging__LogLevel__BuildGrid.Core"] = "Information";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        foreach (var (key, value) in environment) start.Environment[key] = value;
        var process = Process.Start(start)!;
        var ready = new TaskCompletionSource<Uri>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.IndexOf(" grpc=", StringComparison.Ordinal) is > 0 and var at)
                ready.TrySetResult(new Uri(e.Data[(at + 6)..].Split(' ')[0]));
        };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ServiceHost(process, await ready.Task.WaitAsync(TimeSpan.FromSeconds(60)));
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited) process.Kill(true);
        await process.WaitForExitAsync();
    }
}
