using System.Diagnostics;

namespace BuildGrid.Benchmarks;

/// <summary>A closed-loop load: N workers call as fast as answers come back, for a fixed time after a warm-up.</summary>
public static class Load
{
    /// <summary>This machine's load averages (1, 5, 15 minutes), printed beside figures that depend on it.</summary>
    public static string Average => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    public sealed record Result(string Name, long Calls, long Errors, double Seconds, double P50Ms, double P99Ms)
    {
        public double PerSecond => Calls / Seconds;

        /// <summary>Two runs of the same load as one: calls and time added, latency percentiles averaged.</summary>
        public static Result Combine(Result a, Result b) =>
            new(a.Name, a.Calls + b.Calls, a.Errors + b.Errors, a.Seconds + b.Seconds, (a.P50Ms + b.P50Ms) / 2, (a.P99Ms + b.P99Ms) / 2);

        public override string ToString() =>
            $"{Name,-34} {PerSecond,10:F0} req/s   p50 {P50Ms,7:F2} ms   p99 {P99Ms,7:F2} ms   errors {Errors}";
    }

    public static async Task<Result> RunAsync(string name, int concurrency, TimeSpan warmup, TimeSpan duration, Func<int, Task<bool>> call)
    {
        await RunLoopAsync(concurrency, warmup, call, null);
        var latencies = new List<double>[concurrency];
        for (var i = 0; i < concurrency; i++) latencies[i] = new List<double>(100_000);
        var stopwatch = Stopwatch.StartNew();
        var errors = await RunLoopAsync(concurrency, duration, call, latencies);
        var seconds = stopwatch.Elapsed.TotalSeconds;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return new Result(name, all.Length, errors, seconds, Percentile(all, 0.50), Percentile(all, 0.99));
    }

    static async Task<long> RunLoopAsync(int concurrency, TimeSpan duration, Func<int, Task<bool>> call, List<double>[]? latencies)
    {
        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long errors = 0;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
        {
            var i = 0;
            while (Stopwatch.GetTimestamp() < end)
            {
                var start = Stopwatch.GetTimestamp();
                bool ok;
                try { ok = await call(worker * 1_000_000 + i++); }
                catch { ok = false; }
                if (!ok) Interlocked.Increment(ref errors);
                latencies?[worker].Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        })));
        return errors;
    }

    /// <summary>The value at fraction <paramref name="p"/> of an ascending array (NaN when it is empty).</summary>
    public static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
}
