using BuildGrid.Core.Clients;
using BuildGrid.Core.Hosting;
using BuildGrid.Standalone;
using BuildGrid.Projects.V1;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using ProjectsClient = BuildGrid.Projects.V1.Projects.ProjectsClient;

namespace BuildGrid.Benchmarks;

/// <summary>
/// What the in-process invoker saves: the same GetProject from the same standalone host's own typed client, once through
/// <see cref="BuildGrid.InProcess.InProcessCallInvoker"/> (the route the host's clients take to a service it hosts) and
/// once over a loopback h2c channel to the host's gRPC listener (what the call costs when the service is another
/// process on the same machine), both through the same server interceptors, in ABBA order in one run.
/// </summary>
internal static class InProcessBenchmark
{
    public static async Task RunAsync(int seconds, int concurrency)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), $"buildgrid-bench-{Guid.NewGuid():N}");
        var app = BuildGridHost.Create(["--BUILDGRID_REST_URL=http://127.0.0.1:0", "--BUILDGRID_GRPC_URL=http://127.0.0.1:0",
            $"--BUILDGRID_DATA_DIR={dataDir}", "--Logging:LogLevel:Default=Warning"]);
        await app.StartAsync();
        try
        {
            if (!app.Services.GetRequiredService<ServiceAddresses>().RouteOf("projects").InProcess)
                throw new InvalidOperationException("the standalone host's Projects client is not in-process");
            var inProcess = app.Services.GetRequiredService<ProjectsClient>();
            using var channel = GrpcChannel.ForAddress(app.Services.GetRequiredService<BuildGridEndpoints>().GrpcUri);
            var loopback = new ProjectsClient(channel);
            for (var i = 0; i < 100; i++)
                await loopback.CreateProjectAsync(new CreateProjectRequest { Name = $"inproc-{i}", Operator = "bench" });

            var warmup = TimeSpan.FromSeconds(Math.Max(2, seconds / 3));
            var half = TimeSpan.FromSeconds(seconds / 2.0);
            Task<Load.Result> Run(string name, ProjectsClient client) => Load.RunAsync(name, concurrency, warmup, half, async i =>
                (await client.GetProjectAsync(new GetProjectRequest { Name = $"inproc-{i % 100}" })).Name.Length > 0);
            var wireFirst = await Run("GetProject over loopback h2c", loopback);
            var localFirst = await Run("GetProject in-process", inProcess);
            var local = Load.Result.Combine(localFirst, await Run("GetProject in-process", inProcess));
            var wire = Load.Result.Combine(wireFirst, await Run("GetProject over loopback h2c", loopback));
            Console.WriteLine($"{concurrency} concurrent callers, {seconds} s each; {Environment.ProcessorCount} cores shared by server and callers");
            Console.WriteLine(wire);
            Console.WriteLine(local);
            Console.WriteLine($"in-process/loopback throughput ratio: {local.PerSecond / wire.PerSecond:F2}; " +
                $"p50 ratio: {local.P50Ms / wire.P50Ms:F2}; p99 ratio: {local.P99Ms / wire.P99Ms:F2}");
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
    }
}
