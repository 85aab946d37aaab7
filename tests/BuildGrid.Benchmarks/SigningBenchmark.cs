using BuildGrid.Standalone;
using System.Diagnostics;
using BuildGrid.Core.Clients;
using BuildGrid.Core.Hosting;
using BuildGrid.Core.Identity;
using BuildGrid.Gateway;
using BuildGrid.Projects.V1;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace BuildGrid.Benchmarks;

/// <summary>
/// The signing figure: what the per-call service identity token costs. The same GetProject over the same loopback gRPC
/// channel to a standalone host in this process, unsigned (no credentials: the local admin in protected mode) against
/// signed (an <c>x-buildgrid-identity</c> token minted per call by <see cref="ServiceIdentityInterceptor"/> and verified
/// by the server's PrincipalInterceptor) — what every call between BuildGrid processes pays — in ABBA order in one run;
/// then the bare Sign and Verify costs on one thread: fresh (a new client address each time, so neither cache helps) and
/// again (the same principal, method and client: the token signed less than 5 s ago, and its verification, are reused).
/// </summary>
internal static class SigningBenchmark
{
    public static async Task RunAsync(int seconds, int concurrency)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), $"buildgrid-bench-{Guid.NewGuid():N}");
        var app = BuildGridHost.Create(["--BUILDGRID_REST_URL=http://127.0.0.1:0", "--BUILDGRID_GRPC_URL=http://127.0.0.1:0",
            $"--BUILDGRID_DATA_DIR={dataDir}", "--Logging:LogLevel:Default=Warning"]);
        await app.StartAsync();
        try
        {
            var endpoints = app.Services.GetRequiredService<BuildGridEndpoints>();
            // The host's own token service: same key, so its tokens verify on the server.
            var tokens = app.Services.GetRequiredService<ServiceTokens>();
            using var channel = GrpcChannel.ForAddress(endpoints.GrpcUri);
            var plain = new BuildGrid.Projects.V1.Projects.ProjectsClient(channel);
            var signed = new BuildGrid.Projects.V1.Projects.ProjectsClient(channel.Intercept(new ServiceIdentityInterceptor(tokens)));
            for (var i = 0; i < 100; i++)
                await plain.CreateProjectAsync(new CreateProjectRequest { Name = $"sign-{i}", Operator = "bench" });
            var principal = Principal.User("bench", isAdmin: true);

            var warmup = TimeSpan.FromSeconds(Math.Max(2, seconds / 3));
            var half = TimeSpan.FromSeconds(seconds / 2.0);
            Task<Load.Result> Unsigned() => Load.RunAsync("GetProject unsigned", concurrency, warmup, half, async i =>
                (await plain.GetProjectAsync(new GetProjectRequest { Name = $"sign-{i % 100}" })).Name.Length > 0);
            Task<Load.Result> Signed() => Load.RunAsync("GetProject signed (same caller)", concurrency, warmup, half, async i =>
            {
                // Fresh metadata per call, as Caller.Carry makes it for each call made while serving another.
                var headers = Caller.OnBehalfOf(new Metadata(), principal, "127.0.0.1");
                return (await signed.GetProjectAsync(new GetProjectRequest { Name = $"sign-{i % 100}" }, headers)).Name.Length > 0;
            });
            var unsignedFirst = await Unsigned();
            var signedFirst = await Signed();
            var signedAll = Load.Result.Combine(signedFirst, await Signed());
            var unsignedAll = Load.Result.Combine(unsignedFirst, await Unsigned());
            Console.WriteLine($"{concurrency} concurrent callers, {seconds} s each; {Environment.ProcessorCount} cores shared by server and callers");
            Console.WriteLine(unsignedAll);
            Console.WriteLine(signedAll);
            Console.WriteLine($"signed/unsigned throughput ratio: {signedAll.PerSecond / unsignedAll.PerSecond:F2}; " +
                $"p50 ratio: {signedAll.P50Ms / unsignedAll.P50Ms:F2}; p99 ratio: {signedAll.P99Ms / unsignedAll.P99Ms:F2}");
            // Closed loop on a saturated machine: 1/throughput is the machine time one call takes, all cores together.
            Console.WriteLine($"machine time per call ({Environment.ProcessorCount} cores): unsigned {1e6 / unsignedAll.PerSecond:F0} µs, " +
                $"signed {1e6 / signedAll.PerSecond:F0} µs (+{1e6 / signedAll.PerSecond - 1e6 / unsignedAll.PerSecond:F0} µs)");

            // The bare costs, one thread, against the loopback call's own latency as the baseline.
            const string method = "/buildgrid.projects.v1.Projects/GetProject";
            static string Client(int i) => $"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}";
            var sample = tokens.Sign(principal, method, "127.0.0.1");
            for (var i = 0; i < 2000; i++)
                await tokens.VerifyAsync(tokens.Sign(principal, method, Client(i)), method);
            var n = 20000;
            var fresh = new string[n];
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < n; i++)
                fresh[i] = tokens.Sign(principal, method, Client(100_000 + i));
            var freshSignUs = watch.Elapsed.TotalMilliseconds * 1000 / n;
            watch.Restart();
            for (var i = 0; i < n; i++)
                _ = await tokens.VerifyAsync(fresh[i], method);
            var freshVerifyUs = watch.Elapsed.TotalMilliseconds * 1000 / n;
            watch.Restart();
            for (var i = 0; i < n; i++)
                _ = tokens.Sign(principal, method, "127.0.0.1");
            var signUs = watch.Elapsed.TotalMilliseconds * 1000 / n;
            watch.Restart();
            for (var i = 0; i < n; i++)
                _ = await tokens.VerifyAsync(sample, method);
            var verifyUs = watch.Elapsed.TotalMilliseconds * 1000 / n;
            watch.Restart();
            var calls = 2000;
            for (var i = 0; i < calls; i++)
                await plain.GetProjectAsync(new GetProjectRequest { Name = $"sign-{i % 100}" });
            var callUs = watch.Elapsed.TotalMilliseconds * 1000 / calls;
            Console.WriteLine($"one thread, an unsigned loopback GetProject {callUs:F0} µs; token {sample.Length} bytes");
            Console.WriteLine($"  fresh: Sign {freshSignUs:F1} µs, Verify {freshVerifyUs:F1} µs, (Sign+Verify)/call = {(freshSignUs + freshVerifyUs) / callUs:F2}");
            Console.WriteLine($"  again: Sign {signUs:F1} µs, Verify {verifyUs:F1} µs, (Sign+Verify)/call = {(signUs + verifyUs) / callUs:F2}");
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
    }
}
