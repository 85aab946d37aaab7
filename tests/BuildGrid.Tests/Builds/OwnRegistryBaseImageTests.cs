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
            var seen = new List<(int Pid, string CommandLine, string Environment, string? PidNamespace)>();
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

            // The buildah processes of this run (its image's name or its auth directory on the command line): none carries
            // a credential where others can read it. The pull of the base and the push run on the host, as BuildGrid, with
            // the run's registries.conf and a private auth file; bud runs inside the sandbox (a PID namespace of its own,
            // no network), where it reads nothing from any registry (--pull=never).
            var ofRun = seen.Where(p => p.CommandLine.Contains($"buildgrid-{run.Id}", StringComparison.Ordinal)
                || p.CommandLine.Contains($"/builds/auth/{run.Id}-", StringComparison.Ordinal)).ToList();
            var described = string.Join("\n", ofRun.Select(p => $"{p.Pid} [{p.PidNamespace}] {p.CommandLine}\n    env: {p.Environment.Length} chars"));
            foreach (var (pid, commandLine, environment, _) in ofRun)
            {
                Assert.DoesNotContain("--creds", commandLine);
                Assert.DoesNotContain("eyJ", commandLine);      // every JWT starts with base64 of '{"'
                Assert.DoesNotContain("eyJ", environment);
            }
            var registriesConf = $"CONTAINERS_REGISTRIES_CONF={host.DataDir}/builds/workspaces/{run.Id}-1/.buildgrid/registries.conf";
            var ownNamespace = new FileInfo("/proc/self/ns/pid").LinkTarget;
            static string Program(string commandLine) => Path.GetFileName(commandLine.Split(' ', 2)[0]);   // argv[0]: buildah, or its wrappers (bash, setsid, bwrap)
            var buildahs = ofRun.Where(p => Program(p.CommandLine) == "buildah").ToList();
            var hostSide = buildahs.Where(p => p.PidNamespace == ownNamespace).ToList();
            foreach (var verb in new[] { " pull ", " push " })
            {
                var step = hostSide.Where(p => p.CommandLine.Contains(verb, StringComparison.Ordinal)).ToList();
                Assert.True(step.Count > 0, $"no host-side buildah{verb}of the run was seen:\n{described}");
                Assert.All(step, p => Assert.Contains("--authfile", p.CommandLine));
                Assert.All(step, p => Assert.Contains(registriesConf, p.Environment.Split('\n')));
            }
            Assert.DoesNotContain(hostSide, p => p.CommandLine.Contains(" bud ", StringComparison.Ordinal));
            var bud = buildahs.Where(p => p.CommandLine.Contains(" bud ", StringComparison.Ordinal)).ToList();
            Assert.True(bud.Count > 0 && bud.All(p => p.PidNamespace != ownNamespace), $"buildah bud of the run did not run in a PID namespace of its own:\n{described}");
            Assert.Contains("--pull=never", bud[0].CommandLine);
            Assert.All(bud.Where(p => p.Environment.Length > 0), p => Assert.Contains(registriesConf, p.Environment.Split('\n')));
            Assert.Contains(ofRun, p => Program(p.CommandLine) == "bwrap" && p.CommandLine.Contains(" --unshare-net ", StringComparison.Ordinal)
                && p.CommandLine.Contains(" bud ", StringComparison.Ordinal));
            // The auth files were private to the run and are gone.
            Assert.False(Directory.Exists(Path.Combine(host.DataDir, "builds", "auth", $"{run.Id}-1")));
        }
    }

    /// <summary>
    /// Reads the command line, environment and PID namespace of every buildah process of BuildGrid until cancelled (each
    /// one once; an environment that cannot be read, as a process's that is exiting, reads as empty).
    /// </summary>
    static async Task WatchBuildahAsync(List<(int Pid, string CommandLine, string Environment, string? PidNamespace)> seen, CancellationToken cancellationToken)
    {
        // Seen by (pid, command line): BuildGrid starts each step as a bash wrapper that execs the tool in the same process.
        var known = new HashSet<(int, string)>();
        while (!cancellationToken.IsCancellationRequested)
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out var pid))
                    continue;
                try
                {
                    var commandLine = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                    if (known.Contains((pid, commandLine)))
                        continue;
                    if (!commandLine.Contains("buildah", StringComparison.Ordinal)
                        || !commandLine.Contains("buildgrid-", StringComparison.Ordinal) && !commandLine.Contains("/builds/auth/", StringComparison.Ordinal))
                        continue;
                    var environment = File.ReadAllText(Path.Combine(dir, "environ")).Replace('\0', '\n');
                    var pidNamespace = new FileInfo(Path.Combine(dir, "ns", "pid")).LinkTarget;
                    known.Add((pid, commandLine));
                    lock (seen) seen.Add((pid, commandLine, environment, pidNamespace));
                }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
            try { await Task.Delay(5, cancellationToken); }
            catch (OperationCanceledException) { return; }
        }
    }
}
