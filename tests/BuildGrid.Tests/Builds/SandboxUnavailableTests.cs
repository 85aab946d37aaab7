using BuildGrid.Standalone;
using BuildGrid.Builds;
using BuildGrid.Builds.V1;
using BuildGrid.Gateway;
using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;
using Microsoft.Extensions.Options;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// A machine where the build sandbox cannot run — here, a mount namespace in which <c>/usr/bin/bwrap</c> is
/// <c>/dev/null</c>: a Builds process refuses to start with one line saying why (exit 2); with
/// <c>Builds:WithoutSandbox=fail-runs</c> (the standalone gateway's default, so that README's one command works on a
/// machine with only the .NET SDK) it starts and every run fails at once with that reason — never unsandboxed.
/// </summary>
public sealed class SandboxUnavailableTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A process that should exit at once but starts serving instead fails the test rather than hanging it.</summary>
    static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    static string BuildsDll => Path.Combine(TestDirectories.RepositoryRoot, "services", "BuildGrid.Builds", "bin", TestDirectories.Configuration,
        "net10.0", "BuildGrid.Builds.dll");

    /// <summary>bwrap (the real one, outside) giving what follows a view of this machine where bwrap itself does not run.</summary>
    static string[] WithoutBwrap => ["--dev-bind", "/", "/", "--ro-bind", "/dev/null", Tools.Require("bwrap", "bubblewrap"), "--"];

    [Fact]
    public async Task A_builds_process_refuses_to_start_saying_why_and_with_fail_runs_it_fails_each_run_instead()
    {
        var bwrap = Tools.Require("bwrap", "bubblewrap");
        await using var redis = await RedisServer.StartAsync();
        var dataDir = TestDirectories.Create("no-sandbox");
        try
        {
            string[] common = [$"--BUILDGRID_DATA_DIR={dataDir}", $"--BUILDGRID_REDIS={redis.ConnectionString}",
                "--BUILDGRID_REST_URL=http://127.0.0.1:0", "--BUILDGRID_GRPC_URL=http://127.0.0.1:0"];
            var (code, output) = (await Tools.RunAsync(bwrap, dataDir, [.. WithoutBwrap, "dotnet", BuildsDll, .. common]).WaitAsync(StartTimeout, Ct));
            Assert.True(code == 2, $"exit {code}\n{output}");
            Assert.Matches(@"BuildGrid\.Builds: Builds: the build sandbox cannot start \(bwrap exited with \d+", output.TrimEnd().Split('\n')[^1]);
            Assert.DoesNotMatch(@"(?m)^\s+at [A-Za-z_.]+\(", output);

            // fail-runs: the API answers and the run fails at once, naming the reason.
            await using (var builds = await ServiceProcess.StartAsync("BuildGrid.Builds", new Dictionary<string, string>
            {
                ["BUILDGRID_DATA_DIR"] = dataDir, ["BUILDGRID_REDIS"] = redis.ConnectionString, ["Builds__WithoutSandbox"] = "fail-runs",
            }, dataDir, [bwrap, .. WithoutBwrap]))
            {
                Assert.Contains("This process serves the API but builds no run", builds.Output);
                using var channel = GrpcChannel.ForAddress(builds.GrpcUrl);
                var client = new BuildRuns.BuildRunsClient(channel);
                var run = await client.StartRunAsync(new StartRunRequest { Spec = Runs.Script("echo should-not-run > ran.txt") }, cancellationToken: Ct);
                var done = await Runs.FinishedAsync(client, run.Id, 60);
                Assert.Equal(RunState.Failed, done.State);
                Assert.StartsWith("this worker cannot sandbox builds, so it runs none: Builds: the build sandbox cannot start", done.FailureReason);
                Assert.DoesNotContain("should-not-run", await Runs.LogAsync(client, run.Id));
                Assert.Empty(Directory.EnumerateFiles(dataDir, "ran.txt", SearchOption.AllDirectories));
            }
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }

    [Fact]
    public async Task The_standalone_gateway_fails_runs_where_a_builds_process_refuses_to_start()
    {
        var dataDir = TestDirectories.Create("no-sandbox-defaults");
        try
        {
            await using var standalone = BuildGridHost.Create([$"--BUILDGRID_DATA_DIR={dataDir}", "--BUILDGRID_REST_URL=http://127.0.0.1:0",
                "--BUILDGRID_GRPC_URL=http://127.0.0.1:0"]);
            Assert.Equal("fail-runs", standalone.Services.GetRequiredService<IOptions<BuildsOptions>>().Value.WithoutSandbox);
            await using var configured = BuildGridHost.Create([$"--BUILDGRID_DATA_DIR={dataDir}", "--BUILDGRID_REST_URL=http://127.0.0.1:0",
                "--BUILDGRID_GRPC_URL=http://127.0.0.1:0", "--Builds:WithoutSandbox=refuse"]);
            Assert.Equal("refuse", configured.Services.GetRequiredService<IOptions<BuildsOptions>>().Value.WithoutSandbox);
            Assert.Equal("refuse", new BuildsOptions().WithoutSandbox);   // what a Builds process of its own starts with
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }
}
