using System.Net;
using BuildGrid.Containers;
using BuildGrid.Core.Hosting;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Containers;

/// <summary>
/// The distributed layout: Containers as its own host (the composition of its Program.cs) and a gateway that reaches it
/// through BUILDGRID_CONTAINERS_URL instead of hosting it.
/// </summary>
public sealed class ContainersRemoteTests
{
    [Fact]
    public async Task The_gateway_calls_a_remote_containers_service_and_answers_503_when_it_is_down()
    {
        var serviceDir = TestDirectories.Create("containers-service");
        var gatewayDir = TestDirectories.Create("containers-gateway");
        var builder = WebApplication.CreateBuilder(["--BUILDGRID_REST_URL=http://127.0.0.1:0", "--BUILDGRID_GRPC_URL=http://127.0.0.1:0",
            $"--BUILDGRID_DATA_DIR={serviceDir}", "--Logging:LogLevel:Default=Warning"]);
        builder.AddBuildGridDefaults();
        builder.AddContainers();
        var service = builder.Build();
        service.MapBuildGridDefaults();
        service.MapContainers();
        await service.StartAsync(TestContext.Current.CancellationToken);
        var serviceStopped = false;
        var errors = new ErrorLog();
        var (gateway, restUrl, _) = await StandaloneFixture.StartAsync(gatewayDir, errors,
            $"--BUILDGRID_CONTAINERS_URL={service.Services.GetRequiredService<BuildGridEndpoints>().GrpcUri}");
        try
        {
            using var http = new HttpClient { BaseAddress = restUrl };
            var api = new SvacerApi(http);
            var name = SvacerApi.UniqueName("remote");
            await api.AddAsync("project", name);
            Assert.Single(await api.ListAsync(new { action = "list", name }));
            Assert.True(File.Exists(Path.Combine(serviceDir, "containers.db")));
            Assert.False(File.Exists(Path.Combine(gatewayDir, "containers.db")));

            await service.StopAsync(TestContext.Current.CancellationToken);
            serviceStopped = true;
            var down = await api.ContainersAsync(new { action = "list", name });
            Assert.Equal(HttpStatusCode.ServiceUnavailable, down.Status);
            Assert.Equal("UNAVAILABLE", down.Reason);
            Assert.Contains("unavailable", down.Error);
            Assert.Contains(errors.Entries, e => e.Contains("Svacer call containers failed", StringComparison.Ordinal));
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
