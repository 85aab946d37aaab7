using System.Net;
using BuildGrid.Builds;
using BuildGrid.Core.Hosting;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Zadig;

/// <summary>
/// The distributed layout: Builds as its own host (the composition of its Program.cs, with redis-server as its queue)
/// and a gateway that reaches it through BUILDGRID_BUILDS_URL. The zadig dialect and the /buildgrid/v1 extension
/// work through the typed clients alone, and answer 503 when the service is down.
/// </summary>
public sealed class ZadigRemoteTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_gateway_serves_builds_and_runs_of_a_remote_builds_service()
    {
        Tools.Require("redis-server", "redis-server");
        await using var redis = await RedisServer.StartAsync();
        using var repository = await GitRepository.CreateAsync("main", new Dictionary<string, string> { ["a.txt"] = "remote checkout" });
        var serviceDir = TestDirectories.Create("builds-service");
        var gatewayDir = TestDirectories.Create("builds-gateway");
        var builder = WebApplication.CreateBuilder(["--BUILDGRID_REST_URL=http://127.0.0.1:0", "--BUILDGRID_GRPC_URL=http://127.0.0.1:0",
            $"--BUILDGRID_DATA_DIR={serviceDir}", $"--BUILDGRID_REDIS={redis.ConnectionString}", "--Logging:LogLevel:Default=Warning"]);
        builder.AddBuildGridDefaults();
        builder.AddBuilds();
        var service = builder.Build();
        service.MapBuildGridDefaults();
        service.MapBuilds();
        await service.StartAsync(Ct);
        var serviceStopped = false;
        var errors = new ErrorLog();
        var (gateway, restUrl, _) = await StandaloneFixture.StartAsync(gatewayDir, errors,
            $"--BUILDGRID_BUILDS_URL={service.Services.GetRequiredService<BuildGridEndpoints>().GrpcUri}");
        try
        {
            using var http = new HttpClient { BaseAddress = restUrl };
            var api = new ZadigApi(http);
            var (url, ns, name) = ZadigApi.Locate(repository);
            Assert.Equal(HttpStatusCode.OK, (await api.JsonAsync(HttpMethod.Post, "/buildgrid/v1/code-hosts", new { name = "git", url })).Status);
            var body = ZadigApi.Build("remote", "b", "cat $REPONAME_0/a.txt",
                repos: new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject
                {
                    ["codehost_name"] = "git", ["repo_namespace"] = ns, ["repo_name"] = name, ["branch"] = "main",
                }));
            (await api.PostAsync("/openapi/build?projectKey=remote", body.ToJsonString())).AssertSuccess();
            Assert.Equal(1, (await api.GetAsync("/openapi/build?projectKey=remote")).Root.GetProperty("total").GetInt32());
            Assert.True(File.Exists(Path.Combine(serviceDir, "builds.db")));
            Assert.False(File.Exists(Path.Combine(gatewayDir, "builds.db")));

            var started = await api.JsonAsync(HttpMethod.Post, "/buildgrid/v1/builds/b/runs?projectKey=remote", "{}");
            Assert.True(started.Status == HttpStatusCode.OK, started.Text);
            var id = started.Root.GetProperty("id").GetString()!;
            var state = "";
            for (var deadline = DateTime.UtcNow.AddSeconds(60); DateTime.UtcNow < deadline && state is not ("RUN_STATE_SUCCEEDED" or "RUN_STATE_FAILED"); await Task.Delay(100, Ct))
                state = (await api.JsonAsync(HttpMethod.Get, $"/buildgrid/v1/runs/{id}")).Root.GetProperty("state").GetString()!;
            Assert.Equal("RUN_STATE_SUCCEEDED", state);
            Assert.Contains("remote checkout", (await api.JsonAsync(HttpMethod.Get, $"/buildgrid/v1/runs/{id}/log")).Text);

            await service.StopAsync(Ct);
            serviceStopped = true;
            var down = await api.GetAsync("/openapi/build?projectKey=remote");
            down.AssertError(HttpStatusCode.ServiceUnavailable);
            Assert.Equal("UNAVAILABLE", down.Reason);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await api.JsonAsync(HttpMethod.Get, $"/buildgrid/v1/runs/{id}")).Status);
            Assert.Contains(errors.Entries, e => e.Contains("Zadig call list failed", StringComparison.Ordinal));
        }
        finally
        {
            await gateway.StopAsync(CancellationToken.None);
            await gateway.DisposeAsync();
            if (!serviceStopped)
                await service.StopAsync(CancellationToken.None);
            await service.DisposeAsync();
            TestDirectories.TryDelete(serviceDir);
            TestDirectories.TryDelete(gatewayDir);
        }
    }
}
