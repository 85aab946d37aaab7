using System.Text.Json;
using System.Text.RegularExpressions;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Registry;

/// <summary>
/// The Registry README's tours (<c>&lt;!-- tour:registry --&gt;</c>), as written, with <c>bash -e</c>, curl, real buildah and
/// skopeo against a fresh standalone BuildGrid: every file they send is made on the way, and every call answers the
/// status the tour's comment gives. Buildah's storage is the test's own (CONTAINERS_STORAGE_CONF), not the machine's.
/// </summary>
public sealed class RegistryReadmeTourTests
{
    /// <summary>The file the tour is in, beside the code it shows.</summary>
    internal const string Document = "services/BuildGrid.Registry/README.md";

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_registry_tours_run_as_written()
    {
        Tools.Require("curl", "curl");
        Tools.Require("buildah", "buildah");
        var skopeo = Tools.Require("skopeo", "skopeo");
        var blocks = await ReadmeTour.BlocksAsync(Document, "registry", Ct);
        Assert.Equal(2, blocks.Count);   // curl, then skopeo and buildah
        await using var host = await OwnedHost.StartAsync("readme-registry");
        var work = TestDirectories.Create("readme-registry-shell");
        try
        {
            var storage = await ReadmeTour.OwnStorageAsync(work, Ct);
            var (exitCode, text) = await ReadmeTour.RunAsync(blocks, work,
                new Dictionary<string, string> { ["H"] = host.RestUrl.Authority, [storage.Key] = storage.Value },
                TimeSpan.FromMinutes(3), Ct);
            Assert.True(exitCode == 0, $"the tour failed (exit {exitCode}):\n{text}");

            // The statuses of the curl tour's calls, in order, as its comments give them.
            var statuses = Regex.Matches(text, @"HTTP/1\.1 (\d{3})").Select(m => m.Groups[1].Value).ToList();
            Assert.True(statuses.SequenceEqual(["200", "201", "202", "204", "201", "201", "206", "201", "202", "202", "202"]),
                $"statuses {string.Join(' ', statuses)}:\n{text}");
            Assert.Contains("OCI-Tag: 1.2.3", text);
            Assert.Contains("\"tags\":[\"1.2\",\"1.2.3\",\"latest\"]", text);
            Assert.Contains("\nell", text);   // the ranged read

            // The buildah-built image went in, through an OCI layout and out again under team-b, its digest kept.
            string Digest(string reference) => JsonDocument.Parse(Tools.RunOkAsync(skopeo, work, "inspect", "--tls-verify=false",
                $"docker://{host.RestUrl.Authority}/{reference}").GetAwaiter().GetResult()).RootElement.GetProperty("Digest").GetString()!;
            Assert.Equal(Digest("team-a/hello:v1"), Digest("team-b/hello:v1"));
        }
        finally
        {
            TestDirectories.TryDelete(work);
        }
    }
}
