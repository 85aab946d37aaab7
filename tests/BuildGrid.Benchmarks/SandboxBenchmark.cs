using BuildGrid.Standalone;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Hosting;
using BuildGrid.Gateway;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace BuildGrid.Benchmarks;

/// <summary>
/// Issue 15's figure: what the build sandbox adds to a run's start-up. Two standalone hosts in this process, one with
/// the local sandbox (bwrap, leased uid, rlimits) and one with Builds:Sandbox=none, run the same trivial script in
/// turns, one run at a time with an idle worker; each run's start-to-finish time (its own record) is compared. The
/// sandboxed host is measured with its default network and with network "none".
/// </summary>
public static class SandboxBenchmark
{
    public static async Task RunAsync(int runs)
    {
        var sandboxed = await StartAsync([]);
        var unsandboxed = await StartAsync(["--Builds:Sandbox=none"]);
        try
        {
            var plain = new List<double>();
            var isolated = new List<double>();
            var offline = new List<double>();
            for (var i = 0; i < runs + 5; i++)
            {
                // Alternate, so that load from the other helpers' builds hits all three alike; the first five warm up.
                var a = await DurationAsync(unsandboxed.Client, "");
                var b = await DurationAsync(sandboxed.Client, "");
                var c = await DurationAsync(sandboxed.Client, "none");
                if (i < 5) continue;
                plain.Add(a);
                isolated.Add(b);
                offline.Add(c);
            }
            Report("unsandboxed (Builds:Sandbox=none)", plain, null);
            Report("local-sandbox, default network", isolated, plain);
            Report("local-sandbox, network none", offline, plain);
        }
        finally
        {
            await sandboxed.DisposeAsync();
            await unsandboxed.DisposeAsync();
        }
    }

    static void Report(string name, List<double> samples, List<double>? baseline)
    {
        double P(List<double> values, double q) { var sorted = values.Order().ToList(); return sorted[Math.Min(sorted.Count - 1, (int)(sorted.Count * q))]; }
        var line = $"{name,-36} run start->finish p50 {P(samples, 0.5),7:F1} ms  p99 {P(samples, 0.99),7:F1} ms";
        if (baseline is not null)
            line += $"   added p50 {P(samples, 0.5) - P(baseline, 0.5),6:F1} ms (goal <= 50)  p99 {P(samples, 0.99) - P(baseline, 0.99),6:F1} ms  ratio p50 {P(samples, 0.5) / P(baseline, 0.5):F2}";
        Console.WriteLine(line);
    }

    /// <summary>Queues one trivial run and waits for it; its duration is the run's own finish time minus its start time.</summary>
    static async Task<double> DurationAsync(BuildRuns.BuildRunsClient client, string network)
    {
        var run = await client.StartRunAsync(new StartRunRequest { Spec = new RunSpec { Script = "true", TimeoutSeconds = 60, Network = network } });
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (DateTime.UtcNow < deadline)
        {
            run = await client.GetRunAsync(new GetRunRequest { Id = run.Id });
            if (run.State is RunState.Succeeded)
                return (run.FinishTime.ToDateTimeOffset() - run.StartTime.ToDateTimeOffset()).TotalMilliseconds;
            if (run.State is RunState.Failed or RunState.TimedOut or RunState.Cancelled)
                throw new InvalidOperationException($"run {run.Id} ended {run.State}: {run.FailureReason}");
            await Task.Delay(2);
        }
        throw new TimeoutException($"run {run.Id} did not finish within a minute");
    }

    sealed class Host(WebApplication app, GrpcChannel channel, string dataDir) : IAsyncDisposable
    {
        public BuildRuns.BuildRunsClient Client { get; } = new(channel);

        public async ValueTask DisposeAsync()
        {
            channel.Dispose();
            await app.StopAsync();
            await app.DisposeAsync();
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
    }

    static async Task<Host> StartAsync(string[] extra)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "buildgrid-bench", Guid.NewGuid().ToString("N"));
        var app = BuildGridHost.Create(["--BUILDGRID_REST_URL=http://127.0.0.1:0", "--BUILDGRID_GRPC_URL=http://127.0.0.1:0",
            $"--BUILDGRID_DATA_DIR={dataDir}", "--Logging:LogLevel:Default=Warning", "--Builds:Workers=1", .. extra]);
        await app.StartAsync();
        var channel = GrpcChannel.ForAddress(app.Services.GetRequiredService<BuildGridEndpoints>().GrpcUri);
        return new Host(app, channel, dataDir);
    }
}
