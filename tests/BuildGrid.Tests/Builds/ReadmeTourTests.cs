using System.Text.Json;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// The Builds README's tour, as written: the shell blocks marked <c>&lt;!-- tour:build --&gt;</c> … <c>&lt;!-- /tour --&gt;</c>
/// are taken out of that file and run, in order, as one <c>bash -e</c> script against a fresh standalone BuildGrid
/// (<c>H</c> set to its address), with real buildah, busybox-static and curl and no internet: a busybox base made
/// <c>from scratch</c> and pushed, an image-market project built FROM it, its log followed over SSE, the result pulled
/// and run. Buildah's storage is the test's own (CONTAINERS_STORAGE_CONF), not the machine's.
/// </summary>
public sealed class ReadmeTourTests
{
    /// <summary>The file the tour is in, beside the code it shows.</summary>
    internal const string Document = "services/BuildGrid.Builds/README.md";

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_build_tour_runs_as_written_on_an_offline_machine()
    {
        Tools.Require("buildah", "buildah");
        Tools.Require("busybox", "busybox-static");
        var skopeo = Tools.Require("skopeo", "skopeo");
        var blocks = await ReadmeTour.BlocksAsync(Document, "build", Ct);
        Assert.Equal(2, blocks.Count);   // the base image, then the project: a lost marker must not shorten the tour

        await using var host = await OwnedHost.StartAsync("readme-tour");
        var work = TestDirectories.Create("readme-tour-shell");
        try
        {
            var storage = await ReadmeTour.OwnStorageAsync(work, Ct);
            var (exitCode, text) = await ReadmeTour.RunAsync(blocks, work,
                new Dictionary<string, string> { ["H"] = host.RestUrl.Authority, [storage.Key] = storage.Value },
                TimeSpan.FromMinutes(5), Ct);
            Assert.True(exitCode == 0, $"the tour failed (exit {exitCode}):\n{text}");

            // Every answer of the image market was ok, the log ended with a succeeded run, and the pulled image ran.
            Assert.DoesNotMatch(@"""code"":(?!10000)\d+", text);
            Assert.Contains("event: end", text);
            Assert.Contains("\"state\":\"RUN_STATE_SUCCEEDED\"", text);
            Assert.Contains("data: [buildgrid] buildah push", text);
            Assert.Contains("\"status\":\"succeeded\"", text);
            Assert.Contains("hello from BuildGrid", text.Split('\n').Select(l => l.TrimEnd('\r')));   // cat's line, not the log's "data: ... RUN echo"
            var inspect = JsonDocument.Parse(await Tools.RunOkAsync(skopeo, work, "inspect", "--tls-verify=false",
                $"docker://{host.RestUrl.Authority}/default_cluster/hello:1.0")).RootElement;
            Assert.Equal(2, inspect.GetProperty("Layers").GetArrayLength());   // busybox's layer and the RUN step's
        }
        finally
        {
            // buildah's vfs layers may hold files only root can remove; the storage goes with the directory.
            TestDirectories.TryDelete(work);
        }
    }
}
