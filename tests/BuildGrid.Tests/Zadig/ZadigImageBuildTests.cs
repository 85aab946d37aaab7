using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;

namespace BuildGrid.Tests.Zadig;

/// <summary>
/// A Zadig build definition with the seed's docker build step, run for real: git checkout of a local bare repository,
/// the script, buildah building $REPONAME_0/Dockerfile with the build args, and the push to a registry (Debian's
/// docker-registry on loopback; BuildGrid's own registry is another issue), read back with skopeo.
/// </summary>
public sealed class ZadigImageBuildTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_definitions_docker_build_step_builds_and_pushes_the_image_under_the_project()
    {
        Tools.Require("buildah", "buildah");
        var skopeo = Tools.Require("skopeo", "skopeo");
        await using var registry = await DockerRegistry.StartAsync();
        using var repository = await GitRepository.CreateAsync("main", new Dictionary<string, string>
        {
            ["Dockerfile"] = "FROM scratch\nARG service\nCOPY hello.txt /hello.txt\nLABEL service=$service\n",
            ["hello.txt"] = "hello from a zadig build\n",
        });
        var dataDir = TestDirectories.Create("zadig-image");
        var (app, rest, grpc) = await StandaloneFixture.StartAsync(dataDir, null, $"--Builds:Registry={registry.Host}");
        try
        {
            using var http = new HttpClient { BaseAddress = rest };
            var api = new ZadigApi(http);
            var (url, ns, name) = ZadigApi.Locate(repository);
            Assert.Equal(HttpStatusCode.OK, (await api.JsonAsync(HttpMethod.Post, "/buildgrid/v1/code-hosts", new { name = "gitlab", url })).Status);
            var body = ZadigApi.Build("shop", "web-build", "echo \"image=$IMAGE\"",
                repos: new JsonArray(new JsonObject { ["codehost_name"] = "gitlab", ["repo_namespace"] = ns, ["repo_name"] = name, ["branch"] = "main" }));
            body["services"] = new JsonArray(new JsonObject { ["service_name"] = "web", ["service_module"] = "web-frontend" });
            body["docker_build_step"] = JsonNode.Parse("""
                {"build_args": "--build-arg service=$SERVICE", "build_context_dir": "$REPONAME_0", "dockerfile_directory": "$REPONAME_0/Dockerfile",
                 "dockerfile_source": "local", "enable_buildkit": true, "platforms": "", "template_name": ""}
                """);
            (await api.PostAsync("/openapi/build?projectKey=shop", body.ToJsonString())).AssertSuccess();

            var started = await api.JsonAsync(HttpMethod.Post, "/buildgrid/v1/builds/web-build/runs?projectKey=shop", """{"tag":"1.2.3"}""");
            Assert.True(started.Status == HttpStatusCode.OK, started.Text);
            Assert.Equal("shop/web-frontend:1.2.3", started.Root.GetProperty("image").GetString());
            using var channel = GrpcChannel.ForAddress(grpc);
            var client = new BuildRuns.BuildRunsClient(channel);
            var id = started.Root.GetProperty("id").GetString()!;
            var done = await Runs.FinishedAsync(client, id, 180);
            var log = await Runs.LogAsync(client, id);
            Assert.True(done.State == RunState.Succeeded, $"{done.State}: {done.FailureReason}\n{log}");
            Assert.Contains("image=shop/web-frontend:1.2.3", log);
            Assert.StartsWith("sha256:", done.ImageDigest);

            var inspect = JsonDocument.Parse(await Tools.RunOkAsync(skopeo, dataDir, "inspect", "--tls-verify=false",
                $"docker://{registry.Host}/shop/web-frontend:1.2.3")).RootElement;
            Assert.Equal(done.ImageDigest, inspect.GetProperty("Digest").GetString());
            Assert.Equal("web", inspect.GetProperty("Labels").GetProperty("service").GetString());
        }
        finally
        {
            await app.StopAsync(Ct);
            await app.DisposeAsync();
            TestDirectories.TryDelete(dataDir);
        }
    }
}
