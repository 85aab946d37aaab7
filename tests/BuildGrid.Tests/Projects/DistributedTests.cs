using System.Net;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Projects;

/// <summary>
/// The distributed layout for this slice: the Projects service in its own process (its own Program.cs and database),
/// and the gateway calling it — by a configured address, or through a Dapr sidecar by app id.
/// </summary>
public sealed class DistributedTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_gateway_drives_a_separate_projects_process_and_survives_its_crash()
    {
        var serviceData = TestDirectories.Create("projects-svc");
        var gatewayData = TestDirectories.Create("gateway");
        var grpcPort = ServiceProcess.FreePort();
        var environment = new Dictionary<string, string>
        {
            ["BUILDGRID_DATA_DIR"] = serviceData,
            ["BUILDGRID_GRPC_URL"] = $"http://127.0.0.1:{grpcPort}",
        };
        var projects = await ServiceProcess.StartAsync("BuildGrid.Projects", environment);
        var (gateway, rest, _) = await StandaloneFixture.StartAsync(gatewayData, null, $"--BUILDGRID_PROJECTS_URL={projects.GrpcUrl}");
        try
        {
            using var http = new HttpClient { BaseAddress = rest };
            var api = new ImageMarketApi(http);
            Assert.Equal(10000, (await api.NewAsync("remote-one", "root")).Code);
            Assert.Equal("remote-one", (await api.InfoAsync("remote-one")).Content.GetProperty("name").GetString());
            // The project lives in the service's database, not the gateway's: the gateway hosts no Projects service.
            await using (var db = await PostgresServer.OpenServiceDatabaseAsync(serviceData, "projects"))
            await using (var count = db.CreateCommand())
            {
                count.CommandText = "SELECT COUNT(*) FROM projects WHERE CAST(name AS TEXT) = 'remote-one'";
                Assert.Equal(1L, Convert.ToInt64(await count.ExecuteScalarAsync(Ct), System.Globalization.CultureInfo.InvariantCulture));
            }
            Assert.False(await PostgresServer.HoldsServiceDatabaseAsync(gatewayData, "projects"));
            using (var health = await new HttpClient().GetAsync(new Uri(projects.RestUrl, "/healthz"), Ct))
                Assert.Equal(HttpStatusCode.OK, health.StatusCode);

            await projects.KillAsync();
            var down = await api.InfoAsync("remote-one");
            Assert.Equal(10100, down.Code);
            Assert.Equal("server internal error", down.ErrMsg);
            Assert.Equal(-1, down.Content.GetInt32());

            await using var restarted = await ServiceProcess.StartAsync("BuildGrid.Projects", environment);
            var back = await Eventually.Async(() => api.InfoAsync("remote-one").GetAwaiter().GetResult(), e => e.Code == 10000);
            Assert.Equal("root", back.Content.GetProperty("creator").GetString());
        }
        finally
        {
            await gateway.StopAsync(Ct);
            await gateway.DisposeAsync();
            await projects.DisposeAsync();
            TestDirectories.TryDelete(serviceData);
            TestDirectories.TryDelete(gatewayData);
        }
    }

    [Fact]
    public async Task With_a_sidecar_the_gateway_invokes_projects_by_dapr_app_id()
    {
        var serviceData = TestDirectories.Create("projects-dapr");
        var gatewayData = TestDirectories.Create("gateway-dapr");
        await using var projects = await ServiceProcess.StartAsync("BuildGrid.Projects", new Dictionary<string, string> { ["BUILDGRID_DATA_DIR"] = serviceData });
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        sidecar.Register("projects", projects.GrpcUrl);
        var (gateway, rest, _) = await StandaloneFixture.StartAsync(gatewayData, null, $"--DAPR_GRPC_PORT={sidecar.GrpcPort}");
        try
        {
            using var http = new HttpClient { BaseAddress = rest };
            var api = new ImageMarketApi(http);
            Assert.Equal(10000, (await api.NewAsync("via-dapr", "root")).Code);
            Assert.Equal("via-dapr", (await api.InfoAsync("via-dapr")).Content.GetProperty("name").GetString());
            Assert.Contains("projects /buildgrid.projects.v1.Projects/CreateProject", sidecar.Invocations);
            Assert.Contains("projects /buildgrid.projects.v1.Projects/GetProject", sidecar.Invocations);
            Assert.False(await PostgresServer.HoldsServiceDatabaseAsync(gatewayData, "projects"));
        }
        finally
        {
            await gateway.StopAsync(Ct);
            await gateway.DisposeAsync();
            TestDirectories.TryDelete(serviceData);
            TestDirectories.TryDelete(gatewayData);
        }
    }
}
