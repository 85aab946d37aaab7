using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// The worker hands a run's workspace and cache dir to the run's leased uid and takes them back (in process, without
/// following links). A script that plants links in a cache dir it shares with the next run of its cache key — to a
/// root-owned host file and to a host directory — must not make the worker give those to the next run's uid.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class SandboxOwnershipTests(StandaloneFixture fixture) : IDisposable
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => fixture.AssertNoErrorsLogged();

    static async Task<string> OwnerAsync(string path)
    {
        using var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u", path]) { RedirectStandardOutput = true })!;
        var owner = await stat.StandardOutput.ReadToEndAsync(Ct);
        await stat.WaitForExitAsync(Ct);
        return owner.Trim();
    }

    [Fact]
    public async Task Links_a_script_plants_in_its_cache_dir_never_hand_host_files_to_the_next_run()
    {
        Assert.SkipUnless(Environment.UserName == "root", "uids are leased (and files handed over) only when the worker runs as root");
        var host = Path.Combine(Path.GetTempPath(), "buildgrid-ownership-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(host, "dir"));
        var file = Path.Combine(host, "file");
        var inner = Path.Combine(host, "dir", "inner");
        await File.WriteAllTextAsync(file, "host", Ct);
        await File.WriteAllTextAsync(inner, "host", Ct);
        try
        {
            var client = new BuildRuns.BuildRunsClient(fixture.Channel);
            var key = "ownership-" + Guid.NewGuid().ToString("N")[..8];
            var plant = Runs.Script($"ln -s {file} \"$CACHE_DIR/file-link\"\nln -s {host}/dir \"$CACHE_DIR/dir-link\"\nmkdir -p \"$CACHE_DIR/sub\"\necho mine > \"$CACHE_DIR/sub/own\"\necho planted");
            plant.CacheKey = key;
            var first = await Runs.FinishedAsync(client, (await client.StartRunAsync(new StartRunRequest { Spec = plant }, cancellationToken: Ct)).Id);
            Assert.Equal(RunState.Succeeded, first.State);

            // The next run of the key gets the cache dir (handed over again) and tries to write through the links.
            var use = Runs.Script("cat \"$CACHE_DIR/sub/own\"\necho x > \"$CACHE_DIR/file-link\" && echo ESCAPE file || echo blocked file\n" +
                "echo x > \"$CACHE_DIR/dir-link/inner\" && echo ESCAPE dir || echo blocked dir");
            use.CacheKey = key;
            var second = await Runs.FinishedAsync(client, (await client.StartRunAsync(new StartRunRequest { Spec = use }, cancellationToken: Ct)).Id);
            var log = await Runs.LogAsync(client, second.Id);
            Assert.Equal(RunState.Succeeded, second.State);
            Assert.Contains("mine", log);   // what the first run left in the cache is the second run's to read
            Assert.DoesNotContain("ESCAPE", log);
            foreach (var path in new[] { file, inner, Path.Combine(host, "dir") })
            {
                Assert.Equal("0", await OwnerAsync(path));
            }
            Assert.Equal("host", await File.ReadAllTextAsync(file, Ct));
            Assert.Equal("host", await File.ReadAllTextAsync(inner, Ct));
        }
        finally
        {
            Directory.Delete(host, recursive: true);
        }
    }
}
