using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;
using ContainersClient = BuildGrid.Containers.V1.Containers.ContainersClient;
using Cv1 = BuildGrid.Containers.V1;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// The Dapr side of subscriptions, checked at its contract as the Dapr SDK's own tests do (daprd cannot be installed
/// here): a service started with sidecar variables declares its topics on /dapr/subscribe and applies a CloudEvent POSTed
/// to the topic route exactly once, however often it is delivered.
/// </summary>
public sealed class DaprSubscriptionTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Containers_subscribes_to_build_finished_and_applies_a_redelivered_event_once()
    {
        var dataDir = TestDirectories.Create("containers-dapr");
        try
        {
            // The sidecar ports point at nothing: only the app side of the contract is exercised.
            await using var containers = await ServiceProcess.StartAsync("BuildGrid.Containers", new Dictionary<string, string>
            {
                ["BUILDGRID_DATA_DIR"] = dataDir,
                ["DAPR_HTTP_PORT"] = ServiceProcess.FreePort().ToString(),
                ["DAPR_GRPC_PORT"] = ServiceProcess.FreePort().ToString(),
            });
            using var http = new HttpClient { BaseAddress = containers.RestUrl };
            var subscriptions = JsonDocument.Parse(await http.GetStringAsync("/dapr/subscribe", Ct)).RootElement;
            var subscription = Assert.Single(subscriptions.EnumerateArray(), s => s.GetProperty("topic").GetString() == "buildgrid.build.finished");
            Assert.Equal("buildgrid-pubsub", subscription.GetProperty("pubsubName").GetString());
            Assert.Equal("buildgrid.build.finished.deadletter", subscription.GetProperty("deadLetterTopic").GetString());
            // The SDK declares routes relative to the app's root (daprd POSTs to /<route>).
            var route = "/" + (subscription.TryGetProperty("route", out var r) ? r.GetString()! : subscription.GetProperty("routes").GetProperty("default").GetString()!).TrimStart('/');
            Assert.Equal("/events/buildgrid.build.finished", route);

            using var channel = GrpcChannel.ForAddress(containers.GrpcUrl);
            var client = new ContainersClient(channel);
            var project = await client.CreateProjectAsync(new Cv1.CreateProjectRequest { Name = "svc" }, cancellationToken: Ct);
            var branch = await client.CreateBranchAsync(new Cv1.CreateBranchRequest { ProjectId = project.Id, Name = "release" }, cancellationToken: Ct);

            var cloudEvent = new
            {
                specversion = "1.0", id = Guid.NewGuid().ToString(), source = "/buildgrid/builds", type = "buildgrid.events.v1.BuildFinished",
                datacontenttype = "application/json", topic = "buildgrid.build.finished", time = DateTimeOffset.UtcNow.ToString("O"),
                data = new { runId = "run-1", project = "svc", branch = "release", status = "succeeded", tag = "2.0", commit = new string('a', 40), imageDigest = "sha256:" + new string('b', 64) },
            };
            for (var delivery = 0; delivery < 3; delivery++)
            {
                using var content = JsonContent.Create(cloudEvent, new System.Net.Http.Headers.MediaTypeHeaderValue("application/cloudevents+json"));
                using var response = await http.PostAsync(route, content, Ct);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal("SUCCESS", JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("status").GetString());
            }
            var snapshot = Assert.Single((await client.ListSnapshotsAsync(new Cv1.ListSnapshotsRequest { BranchId = branch.Id }, cancellationToken: Ct)).Snapshots);
            Assert.Equal(("2.0", "run-1"), (snapshot.Name, snapshot.BuildRunId));

            using var garbage = new StringContent("not a cloud event", System.Text.Encoding.UTF8, "application/cloudevents+json");
            using var dropped = await http.PostAsync(route, garbage, Ct);
            Assert.Equal("DROP", JsonDocument.Parse(await dropped.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("status").GetString());
            // A readable envelope whose data is not a BuildFinished is dropped too (retrying would never help), and changes nothing.
            using var wrongData = JsonContent.Create(new { specversion = "1.0", id = Guid.NewGuid().ToString(), source = "/x", type = "t", data = new { status = 5, runId = new[] { 1 } } },
                new System.Net.Http.Headers.MediaTypeHeaderValue("application/cloudevents+json"));
            using var droppedData = await http.PostAsync(route, wrongData, Ct);
            Assert.Equal("DROP", JsonDocument.Parse(await droppedData.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("status").GetString());
            Assert.Single((await client.ListSnapshotsAsync(new Cv1.ListSnapshotsRequest { BranchId = branch.Id }, cancellationToken: Ct)).Snapshots);
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }
}
