using BuildGrid.Standalone;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using BuildGrid.Containers.V1;
using BuildGrid.Core.Hosting;
using BuildGrid.Gateway;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace BuildGrid.Benchmarks;

/// <summary>
/// Issue 4's figures: a standalone host (in this process, on loopback) holding N projects, 3N branches and N/50 groups
/// (every project in one group); then each svacer call through the REST gateway against the same domain calls made
/// directly over gRPC — the calls the gateway itself makes — by a few concurrent callers for a fixed time each.
/// </summary>
internal static class ContainersBenchmark
{
    sealed record Options(int Projects, double Seconds, int Concurrency, string? DataDir);

    public static async Task<int> RunAsync(string[] args)
    {
        var options = Parse(args);
        var dataDir = options.DataDir ?? Path.Combine(Path.GetTempPath(), $"buildgrid-bench-{Guid.NewGuid():N}");
        var app = BuildGridHost.Create(["--BUILDGRID_REST_URL=http://127.0.0.1:0", "--BUILDGRID_GRPC_URL=http://127.0.0.1:0",
            $"--BUILDGRID_DATA_DIR={dataDir}", "--Logging:LogLevel:Default=Warning"]);
        await app.StartAsync();
        var endpoints = app.Services.GetRequiredService<BuildGridEndpoints>();
        using var http = new HttpClient(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) }) { BaseAddress = endpoints.RestUri };
        using var channel = GrpcChannel.ForAddress(endpoints.GrpcUri);
        var client = new Containers.V1.Containers.ContainersClient(channel);
        try
        {
            var seeded = await SeedAsync(client, options.Projects);
            Console.WriteLine($"seeded {options.Projects} projects, {3 * options.Projects} branches, {seeded.Groups.Count} groups in {seeded.Elapsed.TotalSeconds:F1} s");
            Console.WriteLine($"{options.Concurrency} concurrent callers, {options.Seconds} s per call; {Environment.ProcessorCount} cores shared by server and callers");
            Console.WriteLine();
            Console.WriteLine("| call | REST median ms | REST p99 ms | REST calls/s | gRPC median ms | gRPC p99 ms | gRPC calls/s | REST/gRPC |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");

            var random = new Random(42);
            string AnyProject() => seeded.Projects[random.Next(seeded.Projects.Count)];
            string AnyGroup() => seeded.Groups[random.Next(seeded.Groups.Count)];
            var counter = 0;

            await CompareAsync("list by name (substring, 1 hit)", options,
                () => PostAsync(http, $$"""{"action": "list", "name": "proj-{{random.Next(options.Projects):D6}}"}"""),
                async () =>
                {
                    var name = $"proj-{random.Next(options.Projects):D6}";
                    await client.ListProjectGroupsAsync(new ListProjectGroupsRequest { NameContains = name, PageSize = 1000 });
                    await client.ListProjectsAsync(new ListProjectsRequest { NameContains = name, PageSize = 1000 });
                });
            await CompareAsync("list type project-group", options,
                () => PostAsync(http, """{"action": "list", "type": "project-group"}"""),
                () => client.ListProjectGroupsAsync(new ListProjectGroupsRequest { PageSize = 1000 }).ResponseAsync);
            await CompareAsync("list id=project (groups + branches)", options,
                () => PostAsync(http, $$"""{"action": "list", "id": "{{AnyProject()}}"}"""),
                async () =>
                {
                    var id = AnyProject();
                    await client.GetContainerAsync(new GetContainerRequest { Id = id });
                    await client.ListProjectGroupsAsync(new ListProjectGroupsRequest { ProjectId = id, PageSize = 1000 });
                    await client.ListBranchesAsync(new ListBranchesRequest { ProjectId = id, PageSize = 1000 });
                });
            await CompareAsync("list id=group (its 50 projects)", options,
                () => PostAsync(http, $$"""{"action": "list", "id": "{{AnyGroup()}}"}"""),
                async () =>
                {
                    var id = AnyGroup();
                    await client.GetContainerAsync(new GetContainerRequest { Id = id });
                    await client.ListProjectsAsync(new ListProjectsRequest { ProjectGroupId = id, PageSize = 1000 });
                });
            await CompareAsync("list (everything: groups + projects)", options,
                () => PostAsync(http, """{"action": "list"}"""),
                async () =>
                {
                    var groups = new ListProjectGroupsRequest { PageSize = 1000 };
                    do groups.PageToken = (await client.ListProjectGroupsAsync(groups)).NextPageToken; while (groups.PageToken.Length > 0);
                    var projects = new ListProjectsRequest { PageSize = 1000 };
                    do projects.PageToken = (await client.ListProjectsAsync(projects)).NextPageToken; while (projects.PageToken.Length > 0);
                });
            await CompareAsync("add project", options,
                () => PostAsync(http, $$"""{"action": "add", "type": "project", "name": "bench-rest-{{Interlocked.Increment(ref counter)}}"}"""),
                () => client.CreateProjectAsync(new CreateProjectRequest { Name = $"bench-grpc-{Interlocked.Increment(ref counter)}" }).ResponseAsync);
            return 0;
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            if (options.DataDir is null)
                Directory.Delete(dataDir, recursive: true);
        }
    }

    static async Task PostAsync(HttpClient http, string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/x-www-form-urlencoded");
        using var response = await http.PostAsync("/api/public/admin/server/containers", content);
        await response.Content.ReadAsByteArrayAsync();
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"{(int)response.StatusCode} for {body}");
    }

    static async Task CompareAsync(string name, Options options, Func<Task> rest, Func<Task> grpc)
    {
        await MeasureAsync(rest, 0.5, options.Concurrency, []);   // warm-up
        await MeasureAsync(grpc, 0.5, options.Concurrency, []);
        // The machine is shared: alternate short REST and gRPC windows so that both see the same background load.
        List<double> restLatencies = [], grpcLatencies = [];
        double restSeconds = 0, grpcSeconds = 0;
        for (var round = 0; round < Rounds; round++)
        {
            restSeconds += await MeasureAsync(rest, options.Seconds / Rounds, options.Concurrency, restLatencies);
            grpcSeconds += await MeasureAsync(grpc, options.Seconds / Rounds, options.Concurrency, grpcLatencies);
        }
        var r = Summarize(restLatencies, restSeconds);
        var g = Summarize(grpcLatencies, grpcSeconds);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {r.Median:F2} | {r.P99:F2} | {r.Throughput:F0} | {g.Median:F2} | {g.P99:F2} | {g.Throughput:F0} | {r.Throughput / g.Throughput:F2} |"));
    }

    sealed record Result(double Median, double P99, double Throughput);

    const int Rounds = 10;

    static Result Summarize(List<double> latencies, double seconds)
    {
        var all = latencies.Order().ToArray();
        return new Result(all[all.Length / 2], all[Math.Min(all.Length - 1, (int)Math.Ceiling(all.Length * 0.99) - 1)], all.Length / seconds);
    }

    /// <summary>Calls for <paramref name="seconds"/> from concurrent workers; adds each latency (ms) and returns the elapsed seconds.</summary>
    static async Task<double> MeasureAsync(Func<Task> call, double seconds, int concurrency, List<double> into)
    {
        var latencies = new List<double>[concurrency];
        var clock = Stopwatch.StartNew();
        var until = TimeSpan.FromSeconds(seconds);
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async worker =>
        {
            var mine = latencies[worker] = [];
            while (clock.Elapsed < until)
            {
                var start = Stopwatch.GetTimestamp();
                await call();
                mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }));
        into.AddRange(latencies.SelectMany(l => l));
        return clock.Elapsed.TotalSeconds;
    }

    sealed record Seeded(List<string> Projects, List<string> Groups, TimeSpan Elapsed);

    static async Task<Seeded> SeedAsync(Containers.V1.Containers.ContainersClient client, int projects)
    {
        var clock = Stopwatch.StartNew();
        var groups = new List<string>();
        for (var g = 0; g < Math.Max(1, projects / 50); g++)
            groups.Add((await client.CreateProjectGroupAsync(new CreateProjectGroupRequest { Name = $"group-{g:D4}" })).Id);
        var ids = new string[projects];
        await Parallel.ForAsync(0, projects, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
        {
            var project = await client.CreateProjectAsync(new CreateProjectRequest { Name = $"proj-{i:D6}" }, cancellationToken: ct);
            ids[i] = project.Id;
            foreach (var branch in new[] { "master", "develop", $"release-{i % 10}" })
                await client.CreateBranchAsync(new CreateBranchRequest { ProjectId = project.Id, Name = branch }, cancellationToken: ct);
            await client.AddProjectToGroupAsync(new AddProjectToGroupRequest { ProjectGroupId = groups[i % groups.Count], ProjectId = project.Id }, cancellationToken: ct);
        });
        return new Seeded([.. ids], groups, clock.Elapsed);
    }

    static Options Parse(string[] args)
    {
        string? Value(string key) => args.FirstOrDefault(a => a.StartsWith($"--{key}=", StringComparison.Ordinal))?[(key.Length + 3)..];
        return new Options(
            int.Parse(Value("projects") ?? "10000", CultureInfo.InvariantCulture),
            double.Parse(Value("seconds") ?? "5", CultureInfo.InvariantCulture),
            int.Parse(Value("concurrency") ?? "4", CultureInfo.InvariantCulture),
            Value("data"));
    }
}
