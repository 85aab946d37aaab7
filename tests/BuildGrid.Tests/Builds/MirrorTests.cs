using System.Text.Json;
using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// The builder-wide mirror (Builds:Mirror:docker.io=&lt;cache namespace&gt;) with a real upstream and no internet: a
/// docker-registry on loopback holds a busybox image made offline as library/alpine:3.20, BuildGrid's namespace hub is a
/// pull-through cache of it, and an image-market project whose base-image is plain <c>alpine:3.20</c> builds with real
/// buildah — first through the cache from the upstream, then with the upstream stopped, from the cache alone.
/// </summary>
public sealed class MirrorTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_unqualified_FROM_alpine_is_pulled_through_the_mirror_cache_and_still_builds_when_the_upstream_is_gone()
    {
        var skopeo = Tools.Require("skopeo", "skopeo");
        await using var upstream = await DockerRegistry.StartAsync();
        var baseDigest = await BusyboxImage.PushAsync($"{upstream.Host}/library/alpine:3.20", "offline-alpine");
        await using var host = await OwnedHost.StartAsync("mirror", $"--Registry:ProxyCache:hub:Url={upstream.Url}",
            "--Builds:Mirror:docker.io=hub", "--Registry:Proxy:TagRevalidateAfter=00:00:00");
        using var http = new HttpClient { BaseAddress = host.RestUrl };
        var api = new ImageMarketApi(http);
        using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
        var client = new BuildRuns.BuildRunsClient(channel);
        var saved = await api.PostJsonAsync("/api/project/save", new Dictionary<string, object>
        {
            ["project"] = "mirrored", ["Cluster"] = "team_m", ["addOrUpdate"] = "add", ["operator"] = "root",
            ["$$plugin"] = new object[]
            {
                new { name = "base-image", @params = new { image = "alpine:3.20" } },
                new { name = "run", @params = new { command = "echo built on $(cat /etc/hostname 2>/dev/null || echo busybox) > /built.txt" } },
                new { name = "label", @params = new { labels = new { mirrored = "yes" } } },
            },
        });
        Assert.True(saved.Code == 10000, saved.ErrMsg);

        async Task<Run> BuildAsync(string tag)
        {
            var build = await api.PostJsonAsync("/api/project/build", new { projectName = "mirrored", @operator = "root", tag });
            Assert.True(build.Code == 10000, build.ErrMsg);
            return await Runs.FinishedAsync(client, build.Content.GetProperty("idStr").GetString()!, 240);
        }

        var first = await BuildAsync("1");
        var firstLog = await Runs.LogAsync(client, first.Id);
        Assert.True(first.State == RunState.Succeeded, $"{first.State}: {first.FailureReason}\n{firstLog}");
        Assert.Contains("pulling hub/library/alpine as", firstLog);
        Assert.Contains(upstream.Requests, r => r.StartsWith("GET /v2/library/alpine/manifests/", StringComparison.Ordinal));
        var inspect = JsonDocument.Parse(await Tools.RunOkAsync(skopeo, host.DataDir, "inspect", "--tls-verify=false",
            $"docker://{host.RestUrl.Authority}/team_m/mirrored:1")).RootElement;
        Assert.Equal(first.ImageDigest, inspect.GetProperty("Digest").GetString());
        Assert.Equal("offline-alpine", inspect.GetProperty("Labels").GetProperty("base").GetString());   // the upstream's image is the base
        Assert.Equal("yes", inspect.GetProperty("Labels").GetProperty("mirrored").GetString());
        // The cache namespace holds the base now, under docker.io's name for it.
        var cached = JsonDocument.Parse(await Tools.RunOkAsync(skopeo, host.DataDir, "inspect", "--tls-verify=false",
            $"docker://{host.RestUrl.Authority}/hub/library/alpine:3.20")).RootElement;
        Assert.Equal(baseDigest, cached.GetProperty("Digest").GetString());

        // The upstream is gone (and there is no internet): the next build pulls the base again (every run does), from the cache.
        await upstream.StopAsync();
        var second = await BuildAsync("2");
        var secondLog = await Runs.LogAsync(client, second.Id);
        Assert.True(second.State == RunState.Succeeded, $"{second.State}: {second.FailureReason}\n{secondLog}");
        Assert.Contains("pulling hub/library/alpine as", secondLog);

        // A tag the cache never saw cannot come from anywhere now; the failure says the image comes through the cache.
        Assert.Equal(10000, (await api.PostJsonAsync("/api/project/save", new Dictionary<string, object>
        {
            ["project"] = "mirrored", ["Cluster"] = "team_m", ["addOrUpdate"] = "update", ["operator"] = "root",
            ["$$plugin"] = new object[] { new { name = "base-image", @params = new { image = "alpine:3.21" } } },
        })).Code);
        var missing = await BuildAsync("3");
        Assert.Equal(RunState.Failed, missing.State);
        Assert.Contains("base-image pull of alpine:3.21 failed", missing.FailureReason);
        Assert.Contains("BuildGrid's cache hub/library/alpine", missing.FailureReason);
    }

    [Fact]
    public async Task A_mirror_that_names_no_namespace_or_registry_stops_the_start_naming_the_setting()
    {
        var bad = await Assert.ThrowsAnyAsync<Exception>(async () => await (await OwnedHost.StartAsync("mirror-bad", "--Builds:Mirror:docker.io=Hub Cache")).DisposeAsync());
        Assert.Contains("Builds:Mirror:docker.io: 'Hub Cache' is not a namespace", bad.ToString());
        bad = await Assert.ThrowsAnyAsync<Exception>(async () => await (await OwnedHost.StartAsync("mirror-bad", "--Builds:Mirror:quay.io/x=hub")).DisposeAsync());
        Assert.Contains("'quay.io/x' is not a registry", bad.ToString());
    }
}
