using System.Text.Json;
using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// Seed 000 §7-8 end to end with real buildah: save a project, POST /api/project/build, follow buildHistory until it
/// succeeds, and find the image with that digest in BuildGrid's own registry (read back with skopeo). A second build
/// from a git repository pushes to another registry (docker-registry) set in the settings.
/// </summary>
public sealed class ProjectBuildTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Build_pushes_the_projects_image_and_build_history_reports_it()
    {
        Tools.Require("buildah", "buildah");
        var skopeo = Tools.Require("skopeo", "skopeo");
        await using var host = await OwnedHost.StartAsync("project-build");
        var registryHost = host.RestUrl.Authority;
        using var http = new HttpClient { BaseAddress = host.RestUrl };
        var api = new ImageMarketApi(http);
        Assert.Equal(10000, (await api.PostJsonAsync("/api/project/save", new Dictionary<string, object>
        {
            ["project"] = "myweb", ["Cluster"] = "team_a", ["addOrUpdate"] = "add", ["operator"] = "root",
            ["$$plugin"] = new object[]
            {
                new { name = "base-image", @params = new { image = "scratch" } },
                new { name = "label", @params = new { labels = new { team = "a" } } },
                new { name = "env", @params = new { variables = new { MODE = "prod" } } },
            },
        })).Code);

        var build = await api.PostJsonAsync("/api/project/build", new { projectName = "myweb", @operator = "root", tag = "1.0" });
        Assert.Equal(10000, build.Code);
        var id = build.Content.GetProperty("idStr").GetString()!;

        using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
        var run = await Runs.FinishedAsync(new BuildRuns.BuildRunsClient(channel), id, 180);
        Assert.True(run.State == RunState.Succeeded, $"{run.State}: {run.FailureReason}\n{await Runs.LogAsync(new BuildRuns.BuildRunsClient(channel), id)}");
        Assert.Equal("team_a/myweb:1.0", run.Image);
        Assert.StartsWith("sha256:", run.ImageDigest);

        var history = await api.GetAsync("/api/project/buildHistory?projectName=myweb&operator=admin");
        Assert.Equal(10000, history.Code);
        var entry = Assert.Single(history.Content.GetProperty("data").EnumerateArray());
        Assert.Equal(id, entry.GetProperty("idStr").GetString());
        Assert.Equal("succeeded", entry.GetProperty("status").GetString());
        Assert.Equal("1.0", entry.GetProperty("tag").GetString());
        Assert.Equal("root", entry.GetProperty("operator").GetString());
        Assert.Equal(run.ImageDigest, entry.GetProperty("imageDigest").GetString());

        var inspect = JsonDocument.Parse(await Tools.RunOkAsync(skopeo, host.DataDir, "inspect", "--tls-verify=false",
            $"docker://{registryHost}/team_a/myweb:1.0")).RootElement;
        Assert.Equal(run.ImageDigest, inspect.GetProperty("Digest").GetString());
        Assert.Equal("a", inspect.GetProperty("Labels").GetProperty("team").GetString());
        Assert.Contains("MODE=prod", inspect.GetProperty("Env").EnumerateArray().Select(e => e.GetString()));

        // The project keeps its last build (from the build.finished event): an extension of info.
        var info = await Eventually.Async(() => api.InfoAsync("myweb").GetAwaiter().GetResult(),
            e => e.Content.GetProperty("lastBuildStatus").GetString() == "succeeded");
        Assert.Equal((id, "1.0", run.ImageDigest), (info.Content.GetProperty("lastBuildId").GetString(),
            info.Content.GetProperty("lastBuildTag").GetString(), info.Content.GetProperty("lastBuildDigest").GetString()));
        Assert.Equal(10000, (await api.PostJsonAsync("/api/project/clone", new { srcProjectName = "myweb", dstProjectName = "myweb2" })).Code);
        Assert.Equal("", (await api.InfoAsync("myweb2")).Content.GetProperty("lastBuildStatus").GetString());

        // The documented error codes of build and buildHistory.
        Assert.Equal(10007, (await api.PostJsonAsync("/api/project/build", new { projectName = "nosuch", tag = "1" })).Code);
        Assert.Equal(10006, (await api.PostJsonAsync("/api/project/build", new { projectName = "myweb", tag = "bad tag" })).Code);
        Assert.Equal(10001, (await api.PostJsonAsync("/api/project/build", new { projectName = "my*web", tag = "1" })).Code);
        Assert.Equal(10008, (await api.GetAsync("/api/project/buildHistory?projectName=nosuch")).Code);
    }

    [Fact]
    public async Task A_definition_style_run_builds_from_a_git_repository_with_a_real_layer()
    {
        Tools.Require("buildah", "buildah");
        var skopeo = Tools.Require("skopeo", "skopeo");
        await using var registry = await DockerRegistry.StartAsync();
        using var repo = await GitRepository.CreateAsync("main", new Dictionary<string, string>
        {
            ["Dockerfile"] = "FROM scratch\nARG VERSION\nCOPY hello.txt /hello.txt\nLABEL version=$VERSION\n",
            ["hello.txt"] = "hello from a BuildGrid build\n",
        });
        await using var host = await OwnedHost.StartAsync("git-build", $"--Builds:Registry={registry.Host}");
        using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
        var client = new BuildRuns.BuildRunsClient(channel);
        var spec = new RunSpec
        {
            Script = "echo building $REPONAME_0 at $COMMIT_0",
            DockerBuild = new DockerBuild { Image = "default_cluster/app:abc", Context = "app", Dockerfile = "app/Dockerfile", BuildArgs = { "VERSION=7" } },
            TimeoutSeconds = 300,
        };
        spec.Repos.Add(new RepoSpec { Url = repo.Url, Branch = "main" });
        var run = await client.StartRunAsync(new StartRunRequest { Spec = spec, Definition = "app-build", Service = "app" }, cancellationToken: Ct);
        var done = await Runs.FinishedAsync(client, run.Id, 180);
        Assert.True(done.State == RunState.Succeeded, $"{done.State}: {done.FailureReason}\n{await Runs.LogAsync(client, run.Id)}");
        Assert.Equal(repo.Commit, done.Checkouts[0].Commit);

        var inspect = JsonDocument.Parse(await Tools.RunOkAsync(skopeo, host.DataDir, "inspect", "--tls-verify=false",
            $"docker://{registry.Host}/default_cluster/app:abc")).RootElement;
        Assert.Equal(done.ImageDigest, inspect.GetProperty("Digest").GetString());
        Assert.Equal("7", inspect.GetProperty("Labels").GetProperty("version").GetString());
        Assert.Single(inspect.GetProperty("Layers").EnumerateArray());
    }
}
