using System.Text.Json;
using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// The layer cache with real buildah, offline: a busybox base pushed into BuildGrid's own registry, a 3-step plugin
/// project built from it twice. The second build reuses every step ("Using cache") and pushes the same image (same
/// digest, same layers); another project with the same steps has a cache of its own and builds its steps itself.
/// </summary>
public sealed class LayerCacheTests
{
    [Fact]
    public async Task A_rebuild_of_an_unchanged_project_reuses_its_layers_and_pushes_the_same_image_and_other_projects_do_not_share_them()
    {
        var skopeo = Tools.Require("skopeo", "skopeo");
        await using var host = await OwnedHost.StartAsync("layer-cache");
        var registry = host.RestUrl.Authority;
        await BusyboxImage.PushAsync($"{registry}/team_l/busybox:1");
        using var http = new HttpClient { BaseAddress = host.RestUrl };
        var api = new ImageMarketApi(http);
        using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
        var client = new BuildRuns.BuildRunsClient(channel);
        object[] steps =
        [
            new { name = "base-image", @params = new { image = $"{registry}/team_l/busybox:1" } },
            new { name = "run", @params = new { command = "echo one layer > /layer.txt" } },
            new { name = "label", @params = new { labels = new { cached = "maybe" } } },
        ];
        foreach (var project in new[] { "cached", "neighbour" })
        {
            var saved = await api.PostJsonAsync("/api/project/save", new Dictionary<string, object>
            {
                ["project"] = project, ["Cluster"] = "team_l", ["addOrUpdate"] = "add", ["operator"] = "root", ["$$plugin"] = steps,
            });
            Assert.True(saved.Code == 10000, saved.ErrMsg);
        }

        async Task<(Run Run, string Log, JsonElement Image)> BuildAsync(string project, string tag)
        {
            var build = await api.PostJsonAsync("/api/project/build", new { projectName = project, @operator = "root", tag });
            Assert.True(build.Code == 10000, build.ErrMsg);
            var run = await Runs.FinishedAsync(client, build.Content.GetProperty("idStr").GetString()!, 240);
            var log = await Runs.LogAsync(client, run.Id);
            Assert.True(run.State == RunState.Succeeded, $"{run.State}: {run.FailureReason}\n{log}");
            var image = JsonDocument.Parse(await Tools.RunOkAsync(skopeo, host.DataDir, "inspect", "--tls-verify=false",
                $"docker://{registry}/team_l/{project}:{tag}")).RootElement;
            Assert.Equal(run.ImageDigest, image.GetProperty("Digest").GetString());
            return (run, log, image);
        }

        var first = await BuildAsync("cached", "1");
        Assert.DoesNotContain("Using cache", first.Log);
        var second = await BuildAsync("cached", "2");
        Assert.Equal(2, second.Log.Split('\n').Count(l => l.Contains("--> Using cache", StringComparison.Ordinal)));   // RUN and LABEL
        Assert.Equal(first.Run.ImageDigest, second.Run.ImageDigest);
        Assert.Equal(first.Image.GetProperty("Layers").GetRawText(), second.Image.GetProperty("Layers").GetRawText());
        Assert.Equal(2, second.Image.GetProperty("Layers").GetArrayLength());

        var neighbour = await BuildAsync("neighbour", "1");
        Assert.DoesNotContain("Using cache", neighbour.Log);
    }
}
