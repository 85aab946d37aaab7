using System.Net.Http.Json;
using BuildGrid.Projects.V1;
using Grpc.Net.Client;

namespace BuildGrid.Benchmarks;

/// <summary>
/// The projects figures: REST image-market `info` through the gateway against the same read over direct gRPC, in the same
/// run against the same process; cold start to a healthy /healthz; idle memory.
/// </summary>
public static class ProjectsBenchmark
{
    // The goals on the 2-core build machine: idle resident memory (VmRSS) and cold start of the standalone process, and
    // REST info against direct gRPC GetProject served by the same process.
    static readonly TimeSpan StartGoal = TimeSpan.FromSeconds(2);
    const long IdleGoalBytes = 150L * 1048576;
    const double ThroughputGoal = 0.8;
    const double P99Goal = 1.5;

    public static async Task RunAsync(int seconds, int concurrency)
    {
        var starts = new List<TimeSpan>();
        var idle = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            await using var cold = await GatewayProcess.StartAsync();
            starts.Add(cold.StartTime);
            await Task.Delay(3000);
            idle.Add(cold.ResidentBytes());
        }
        Console.WriteLine($"cold start to healthy /healthz: {string.Join(", ", starts.Select(s => $"{s.TotalMilliseconds:F0} ms"))} (median {starts.Order().ElementAt(1).TotalMilliseconds:F0} ms; goal < {StartGoal.TotalMilliseconds:F0} ms)");
        Console.WriteLine($"idle resident memory after 3 s: {string.Join(", ", idle.Select(b => $"{b / 1048576} MB"))} (median {idle.Order().ElementAt(1) / 1048576} MB; goal < {IdleGoalBytes / 1048576} MB)");

        await using var gateway = await GatewayProcess.StartAsync();
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency }) { BaseAddress = gateway.RestUrl };
        using var channel = GrpcChannel.ForAddress(gateway.GrpcUrl);
        var client = new BuildGrid.Projects.V1.Projects.ProjectsClient(channel);
        for (var i = 0; i < 100; i++)
            await http.PostAsJsonAsync("/api/project/new", new { projectName = $"bench-{i}", @operator = "bench" });

        var warmup = TimeSpan.FromSeconds(Math.Max(2, seconds / 3));
        var half = TimeSpan.FromSeconds(seconds / 2.0);
        Task<Load.Result> Grpc() => Load.RunAsync("gRPC GetProject (direct)", concurrency, warmup, half, async i =>
            (await client.GetProjectAsync(new GetProjectRequest { Name = $"bench-{i % 100}" })).Name.Length > 0);
        Task<Load.Result> Rest() => Load.RunAsync("REST GET /api/project/info", concurrency, warmup, half, async i =>
        {
            using var response = await http.GetAsync($"/api/project/info?projectName=bench-{i % 100}&operator=admin");
            var body = await response.Content.ReadAsStringAsync();
            return response.IsSuccessStatusCode && body.Contains("\"code\":10000", StringComparison.Ordinal);
        });
        // ABBA order (gRPC, REST, REST, gRPC), half the time each: the machine's drift during a run favours neither.
        var grpcFirst = await Grpc();
        var restFirst = await Rest();
        var rest = Load.Result.Combine(restFirst, await Rest());
        var grpc = Load.Result.Combine(grpcFirst, await Grpc());
        Console.WriteLine(grpc);
        Console.WriteLine(rest);
        Console.WriteLine($"REST/gRPC throughput ratio: {rest.PerSecond / grpc.PerSecond:F2} (goal >= {ThroughputGoal:F2}); p99 ratio: {rest.P99Ms / grpc.P99Ms:F2} (goal <= {P99Goal:F1})");
        Console.WriteLine($"resident memory after the load: {gateway.ResidentBytes() / 1048576} MB");
    }
}
