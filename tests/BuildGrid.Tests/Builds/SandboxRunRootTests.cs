using BuildGrid.Builds.V1;
using BuildGrid.Builds.Worker;
using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// A data directory whose parent others may not search (a checkout under <c>/root</c>, mode 0700, running the README's
/// command as root): the sandbox's leased uid could not reach a workspace under it, so the worker keeps its runs in a run
/// root of its own (<c>/var/lib/buildgrid/runs/&lt;hash&gt;</c>, 0711) — the host starts, a sandboxed build runs there,
/// and the script still sees no other run and nothing of the run root but its own workspace.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SandboxRunRootTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_data_dir_under_a_private_parent_still_runs_sandboxed_builds()
    {
        var parent = TestDirectories.Create("private-parent");
        File.SetUnixFileMode(parent, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);   // 0700, as /root
        var dataDir = Path.Combine(parent, "data");
        var asRoot = Environment.UserName == "root";
        string? runRoot = null;
        var (app, _, grpc) = await StandaloneFixture.StartAsync(dataDir);
        try
        {
            runRoot = app.Services.GetRequiredService<LocalSandbox>().RunRoot;
            if (asRoot)
            {
                Assert.StartsWith("/var/lib/buildgrid/runs/", runRoot, StringComparison.Ordinal);
                Assert.Equal("711", Convert.ToString((int)File.GetUnixFileMode(runRoot) & 0x1FF, 8));
            }
            else
            {
                Assert.Equal(Path.Combine(dataDir, "builds"), runRoot);   // without a leased uid the worker reaches its own tree
            }
            // Another run's workspace in the same run root, which this run must not see.
            var neighbour = Path.Combine(runRoot, "workspaces", "neighbour-1");
            Directory.CreateDirectory(neighbour);
            await File.WriteAllTextAsync(Path.Combine(neighbour, "secret"), "neighbour-secret", Ct);

            using var channel = GrpcChannel.ForAddress(grpc);
            var client = new BuildRuns.BuildRunsClient(channel);
            var run = await client.StartRunAsync(new StartRunRequest
            {
                Spec = Runs.Script("echo \"at $PWD\"\necho hello > out.txt\necho \"listing: $(ls \"$(dirname \"$PWD\")\" | tr '\\n' ' ')\"\n" +
                    "cat ../neighbour-1/secret 2>/dev/null || echo 'neighbour: hidden'", 120),
            }, cancellationToken: Ct);
            var done = await Runs.FinishedAsync(client, run.Id, 120);
            var log = await Runs.LogAsync(client, run.Id);
            Assert.True(done.State == RunState.Succeeded, $"{done.State}: {done.FailureReason}\n{log}");
            Assert.Contains($"at {Path.Combine(runRoot, "workspaces", $"{run.Id}-1")}", log);
            Assert.Contains($"listing: {run.Id}-1 \n", log + "\n");
            Assert.Contains("neighbour: hidden", log);
            Assert.DoesNotContain("neighbour-secret", log);
            Assert.Contains("local-sandbox", log);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
            if (asRoot && runRoot is not null && runRoot.StartsWith("/var/lib/buildgrid/runs/", StringComparison.Ordinal))
                TestDirectories.TryDelete(runRoot);
            TestDirectories.TryDelete(parent);
        }
    }
}
