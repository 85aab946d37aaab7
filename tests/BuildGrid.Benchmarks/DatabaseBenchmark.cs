using BuildGrid.Standalone;
using System.Diagnostics;
using System.Net.Http.Json;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Hosting;
using BuildGrid.Gateway;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace BuildGrid.Benchmarks;

/// <summary>
/// Issue 18's figures: the same standalone host on SQLite (the baseline) and on PostgreSQL (a fresh database of the
/// server <c>--postgres</c> names), in this process, measured in turns: REST image-market <c>info</c>, the write path
/// <c>/api/project/new</c>, and N trivial build runs (4 worker slots, Builds:Sandbox=none so that the sandbox's cost
/// does not hide the database's). Each figure is printed with its PostgreSQL/SQLite ratio.
/// </summary>
public static class DatabaseBenchmark
{
    public static async Task<int> RunAsync(string? postgres, int seconds, int concurrency, int runs)
    {
        if (string.IsNullOrWhiteSpace(postgres))
        {
            Console.Error.WriteLine("database: --postgres '<Npgsql connection string of a server whose user may CREATE DATABASE>' is required");
            return 2;
        }
        var database = "bench_" + Guid.NewGuid().ToString("N")[..12];
        await using (var admin = new NpgsqlConnection(postgres))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {database}", admin);
            await create.ExecuteNonQueryAsync();
        }
        var onPostgres = new NpgsqlConnectionStringBuilder(postgres) { Database = database }.ToString();
        await using var sqlite = await Host.StartAsync([]);
        await using var pg = await Host.StartAsync(["--BUILDGRID_SQL_PROVIDER=postgres", $"--BUILDGRID_SQL={onPostgres}"]);
        foreach (var host in new[] { sqlite, pg })
            for (var i = 0; i < 100; i++)
                await host.Http.PostAsJsonAsync("/api/project/new", new { projectName = $"bench-{i}", @operator = "bench" });

        var warmup = TimeSpan.FromSeconds(Math.Max(1, seconds / 4));
        var half = TimeSpan.FromSeconds(seconds / 2.0);
        Task<Load.Result> Info(Host host, string name) => Load.RunAsync($"REST info on {name}", concurrency, warmup, half, async i =>
        {
            using var response = await host.Http.GetAsync($"/api/project/info?projectName=bench-{i % 100}&operator=admin");
            return response.IsSuccessStatusCode && (await response.Content.ReadAsStringAsync()).Contains("\"code\":10000", StringComparison.Ordinal);
        });
        var round = 0;
        Task<Load.Result> New(Host host, string name)
        {
            var prefix = $"w{Interlocked.Increment(ref round)}-";
            return Load.RunAsync($"REST /api/project/new on {name}", concurrency, warmup, half, async i =>
            {
                // Unique and within the 64 characters a project name may have (at most 3 + 7 + 1 + 20).
                using var response = await host.Http.PostAsJsonAsync("/api/project/new",
                    new { projectName = $"{prefix}{i}-{Guid.NewGuid().ToString("N")[..20]}", @operator = "bench" });
                return response.IsSuccessStatusCode && (await response.Content.ReadAsStringAsync()).Contains("\"code\":10000", StringComparison.Ordinal);
            });
        }
        // ABBA order, half the time each: the machine's drift during the run favours neither provider.
        async Task<(Load.Result Sqlite, Load.Result Postgres)> Abba(Func<Host, string, Task<Load.Result>> measure)
        {
            var a1 = await measure(sqlite, "SQLite");
            var b1 = await measure(pg, "PostgreSQL");
            var b2 = await measure(pg, "PostgreSQL");
            var a2 = await measure(sqlite, "SQLite");
            return (Load.Result.Combine(a1, a2), Load.Result.Combine(b1, b2));
        }
        var (infoSqlite, infoPg) = await Abba(Info);
        Console.WriteLine(infoSqlite);
        Console.WriteLine(infoPg);
        Console.WriteLine($"info PostgreSQL/SQLite throughput ratio: {infoPg.PerSecond / infoSqlite.PerSecond:F2}; p99 ratio: {infoPg.P99Ms / infoSqlite.P99Ms:F2}");
        var (newSqlite, newPg) = await Abba(New);
        Console.WriteLine(newSqlite);
        Console.WriteLine(newPg);
        Console.WriteLine($"project/new PostgreSQL/SQLite throughput ratio: {newPg.PerSecond / newSqlite.PerSecond:F2}; p99 ratio: {newPg.P99Ms / newSqlite.P99Ms:F2}");

        var runsSqlite = await RunsAsync(sqlite, runs);
        var runsPg = await RunsAsync(pg, runs);
        Console.WriteLine($"{runs} trivial runs: SQLite {runs / runsSqlite:F1} runs/s ({runsSqlite:F1} s), PostgreSQL {runs / runsPg:F1} runs/s ({runsPg:F1} s); " +
            $"PostgreSQL/SQLite throughput ratio {runsSqlite / runsPg:F2}");
        return 0;
    }

    /// <summary>Queues <paramref name="runs"/> trivial runs at once and waits for all; seconds from the first queued to the last finished.</summary>
    static async Task<double> RunsAsync(Host host, int runs)
    {
        var clock = Stopwatch.StartNew();
        var ids = await Task.WhenAll(Enumerable.Range(0, runs).Select(async _ =>
            (await host.Runs.StartRunAsync(new StartRunRequest { Spec = new RunSpec { Script = "true", TimeoutSeconds = 120 } })).Id));
        var pending = new HashSet<string>(ids);
        var deadline = DateTime.UtcNow.AddMinutes(10);
        while (pending.Count > 0 && DateTime.UtcNow < deadline)
        {
            foreach (var id in pending.ToList())
            {
                var run = await host.Runs.GetRunAsync(new GetRunRequest { Id = id });
                if (run.State is RunState.Succeeded)
                    pending.Remove(id);
                else if (run.State is RunState.Failed or RunState.TimedOut or RunState.Cancelled)
                    throw new InvalidOperationException($"run {id} ended {run.State}: {run.FailureReason}");
            }
            await Task.Delay(50);
        }
        if (pending.Count > 0)
            throw new TimeoutException($"{pending.Count} runs did not finish within 10 minutes");
        return clock.Elapsed.TotalSeconds;
    }

    sealed class Host(WebApplication app, GrpcChannel channel, HttpClient http, string dataDir) : IAsyncDisposable
    {
        public BuildRuns.BuildRunsClient Runs { get; } = new(channel);
        public HttpClient Http => http;

        public static async Task<Host> StartAsync(string[] extra)
        {
            var dataDir = Path.Combine(Path.GetTempPath(), "buildgrid-bench", Guid.NewGuid().ToString("N"));
            var app = BuildGridHost.Create(["--BUILDGRID_REST_URL=http://127.0.0.1:0", "--BUILDGRID_GRPC_URL=http://127.0.0.1:0",
                $"--BUILDGRID_DATA_DIR={dataDir}", "--Logging:LogLevel:Default=Warning", "--Builds:Workers=4", "--Builds:Sandbox=none", .. extra]);
            await app.StartAsync();
            var endpoints = app.Services.GetRequiredService<BuildGridEndpoints>();
            return new Host(app, GrpcChannel.ForAddress(endpoints.GrpcUri),
                new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = endpoints.RestUri }, dataDir);
        }

        public async ValueTask DisposeAsync()
        {
            http.Dispose();
            channel.Dispose();
            await app.StopAsync();
            await app.DisposeAsync();
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
    }
}
