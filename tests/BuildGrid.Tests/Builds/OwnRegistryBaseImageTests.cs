using System.Text.Json;
using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// Builds FROM BuildGrid's own plain-HTTP registry, in protected mode (loopback, no password), with real buildah and
/// skopeo: a base image pushed by one run is the base of the next, named by every loopback address the registry answers
/// on. Buildah gets its credentials through a private auth file: the command lines and environments of the buildah
/// processes, read from /proc while they run, carry no token.
/// </summary>
public sealed class OwnRegistryBaseImageTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_build_uses_a_base_image_from_buildgrids_own_registry_by_each_loopback_address_and_no_token_is_on_a_command_line()
    {
        Tools.Require("buildah", "buildah");
        var skopeo = Tools.Require("skopeo", "skopeo");
        await using var host = await OwnedHost.StartAsync("own-base");
        using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
        var client = new BuildRuns.BuildRunsClient(channel);
        var port = host.RestUrl.Port;

        var baseRun = await client.StartRunAsync(new StartRunRequest
        {
            Spec = new RunSpec
            {
                Script = "echo 'from the base image' > hello.txt",
                DockerBuild = new DockerBuild { Image = "team_base/base:1", DockerfileContent = "FROM scratch\nCOPY hello.txt /hello.txt\n" },
                TimeoutSeconds = 300,
            },
        }, cancellationToken: Ct);
        var based = await Runs.FinishedAsync(client, baseRun.Id, 180);
        Assert.True(based.State == RunState.Succeeded, $"{based.State}: {based.FailureReason}\n{await Runs.LogAsync(client, based.Id)}");

        foreach (var address in new[] { $"127.0.0.1:{port}", $"localhost:{port}" })
        {
            var seen = new List<(int Pid, string CommandLine, string Environment)>();
            using var watching = new CancellationTokenSource();
            var watcher = Task.Run(() => WatchBuildahAsync(seen, watching.Token), Ct);
            var run = await client.StartRunAsync(new StartRunRequest
            {
                Spec = new RunSpec
                {
                    Script = "echo second > second.txt",
                    DockerBuild = new DockerBuild
                    {
                        Image = "team_app/app:" + (address.StartsWith("localhost", StringComparison.Ordinal) ? "by-name" : "by-ip"),
                        DockerfileContent = $"ARG BASE={address}/team_base/base:1\nFROM $BASE\nCOPY second.txt /second.txt\nLABEL from=own-registry\n",
                    },
                    TimeoutSeconds = 300,
                },
            }, cancellationToken: Ct);
            var done = await Runs.FinishedAsync(client, run.Id, 180);
            await watching.CancelAsync();
            await watcher;
            var log = await Runs.LogAsync(client, run.Id);
            Assert.True(done.State == RunState.Succeeded, $"FROM {address}: {done.State}: {done.FailureReason}\n{log}");
            Assert.Contains($"pulling team_base/base as admin", log);

            var inspect = JsonDocument.Parse(await Tools.RunOkAsync(skopeo, host.DataDir, "inspect", "--tls-verify=false",
                $"docker://{host.RestUrl.Authority}/{done.Image}")).RootElement;
            Assert.Equal(done.ImageDigest, inspect.GetProperty("Digest").GetString());
            Assert.Equal("own-registry", inspect.GetProperty("Labels").GetProperty("from").GetString());
            Assert.Equal(2, inspect.GetProperty("Layers").GetArrayLength());   // the base's layer and this build's

            // The buildah processes of this run: bud and push were seen; neither carries a credential where others can read it.
            var ofRun = seen.Where(p => p.CommandLine.Contains($"buildgrid-{run.Id}", StringComparison.Ordinal)).ToList();
            Assert.Contains(ofRun, p => p.CommandLine.Contains(" bud ", StringComparison.Ordinal));
            Assert.Contains(ofRun, p => p.CommandLine.Contains(" push ", StringComparison.Ordinal));
            foreach (var (pid, commandLine, environment) in ofRun)
            {
                Assert.DoesNotContain("--creds", commandLine);
                Assert.DoesNotContain("eyJ", commandLine);      // every JWT starts with base64 of '{"'
                Assert.DoesNotContain("eyJ", environment);
                Assert.Contains("CONTAINERS_REGISTRIES_CONF=", environment);
                if (commandLine.Contains(" bud ", StringComparison.Ordinal) || commandLine.Contains(" push ", StringComparison.Ordinal))
                    Assert.Contains("--authfile", commandLine);
            }
            // The auth files were private to the run and are gone.
            Assert.False(Directory.Exists(Path.Combine(host.DataDir, "builds", "auth", $"{run.Id}-1")));
        }
    }

    /// <summary>Reads the command line and environment of every buildah process until cancelled (each one once).</summary>
    static async Task WatchBuildahAsync(List<(int Pid, string CommandLine, string Environment)> seen, CancellationToken cancellationToken)
    {
        var known = new HashSet<int>();
        while (!cancellationToken.IsCancellationRequested)
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out var pid) || known.Contains(pid))
                    continue;
                try
                {
                    var commandLine = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                    if (!commandLine.Contains("buildah", StringComparison.Ordinal) || !commandLine.Contains("buildgrid-", StringComparison.Ordinal))
                        continue;
                    var environment = File.ReadAllText(Path.Combine(dir, "environ")).Replace('\0', '\n');
                    known.Add(pid);
                    lock (seen) seen.Add((pid, commandLine, environment));
                }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
            try { await Task.Delay(5, cancellationToken); }
            catch (OperationCanceledException) { return; }
        }
    }
}
