using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;
using ContainersClient = BuildGrid.Containers.V1.Containers.ContainersClient;
using Cv1 = BuildGrid.Containers.V1;

namespace BuildGrid.Tests.Distributed;

/// <summary>
/// The Dapr HTTP publish API (<c>POST /v1.0/publish/&lt;pubsub&gt;/&lt;topic&gt;</c>), as other systems use it to feed
/// BuildGrid, on the test stand-in for daprd (daprd cannot be installed here) over real redis-server: a CloudEvent posted
/// there reaches the Containers process through its declared subscription and is applied once, even when posted twice.
/// </summary>
public sealed class DaprHttpPublishTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_cloud_event_posted_to_the_http_publish_api_is_delivered_and_applied_once()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var sidecar = await FakeDaprSidecar.StartAsync(redis);
        var root = TestDirectories.Create("dapr-http");
        try
        {
            await using var containers = await ServiceProcess.StartAsync("BuildGrid.Containers", new Dictionary<string, string>
            {
                ["BUILDGRID_DATA_DIR"] = root,
                ["BUILDGRID_REDIS"] = redis.ConnectionString,
                ["DAPR_GRPC_PORT"] = sidecar.GrpcPort.ToString(CultureInfo.InvariantCulture),
                ["DAPR_HTTP_PORT"] = sidecar.HttpPort.ToString(CultureInfo.InvariantCulture),
            });
            await sidecar.RegisterAsync("containers", containers.GrpcUrl);
            using var channel = GrpcChannel.ForAddress(containers.GrpcUrl);
            var client = new ContainersClient(channel);
            var project = await client.CreateProjectAsync(new Cv1.CreateProjectRequest { Name = "svc" }, cancellationToken: Ct);
            var branch = await client.CreateBranchAsync(new Cv1.CreateBranchRequest { ProjectId = project.Id, Name = "main" }, cancellationToken: Ct);

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{sidecar.HttpPort}") };
            var eventId = Guid.NewGuid().ToString();
            var cloudEvent = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["specversion"] = "1.0", ["id"] = eventId, ["source"] = "ci-system", ["type"] = "buildgrid.events.v1.BuildFinished",
                ["datacontenttype"] = "application/json", ["time"] = DateTimeOffset.UtcNow.ToString("O"),
                ["data"] = new { runId = "external-run-1", project = "svc", branch = "main", status = "succeeded", commit = "0123abcd" },
            });
            async Task<HttpResponseMessage> Publish(string pubsub, string body, string contentType = "application/cloudevents+json") =>
                await http.PostAsync($"/v1.0/publish/{pubsub}/buildgrid.build.finished", new StringContent(body, Encoding.UTF8, contentType), Ct);

            using (var published = await Publish(FakeDaprSidecar.PubSubName, cloudEvent))
                Assert.Equal(HttpStatusCode.NoContent, published.StatusCode);
            var snapshot = await Eventually.Async(() => client.ListSnapshots(new Cv1.ListSnapshotsRequest { BranchId = branch.Id }).Snapshots.FirstOrDefault(),
                s => s is not null, 30_000);
            Assert.Equal(("external-run-1", "0123abcd"), (snapshot!.BuildRunId, snapshot.Commit));

            // Published again (at-least-once): delivered again, applied once.
            using (var again = await Publish(FakeDaprSidecar.PubSubName, cloudEvent))
                Assert.Equal(HttpStatusCode.NoContent, again.StatusCode);
            await Eventually.Async(() => sidecar.Deliveries.Count(d => d.EventId == eventId && d.Status == "SUCCESS"), n => n >= 2, 30_000);
            Assert.Single((await client.ListSnapshotsAsync(new Cv1.ListSnapshotsRequest { BranchId = branch.Id }, cancellationToken: Ct)).Snapshots);

            // daprd's errors: an unknown pub/sub component, and a body that is not a CloudEvent.
            using (var unknown = await Publish("no-such-pubsub", cloudEvent))
            {
                Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
                Assert.Contains("ERR_PUBSUB_NOT_FOUND", await unknown.Content.ReadAsStringAsync(Ct));
            }
            using (var broken = await Publish(FakeDaprSidecar.PubSubName, "{not json"))
            {
                Assert.Equal(HttpStatusCode.BadRequest, broken.StatusCode);
                Assert.Contains("ERR_PUBSUB_CLOUD_EVENTS_SER", await broken.Content.ReadAsStringAsync(Ct));
            }
        }
        finally
        {
            TestDirectories.TryDelete(root);
        }
    }
}
