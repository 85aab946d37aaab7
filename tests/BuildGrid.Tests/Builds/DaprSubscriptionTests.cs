using System.Globalization;
using BuildGrid.Standalone;
using System.Text.Json.Nodes;
using BuildGrid.Core.Events;
using BuildGrid.Gateway;
using BuildGrid.Tests.Infrastructure;
using Dapr.AppCallback.Autogen.Grpc.v1;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using ContainersClient = BuildGrid.Containers.V1.Containers.ContainersClient;
using Cv1 = BuildGrid.Containers.V1;
using DaprApi = Dapr.Client.Autogen.Grpc.v1;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// Subscriptions as a real sidecar with <c>app-protocol: grpc</c> drives them (through the daprd stand-in, which follows
/// daprd 1.14, over real redis-server): the app declares its topics on AppCallback/ListTopicSubscriptions, events
/// published through Dapr's PublishEvent reach it by OnTopicEvent, a redelivered event is applied once, what can never
/// be applied is dropped to the dead-letter topic, and a handler's transient failure is retried.
/// </summary>
public sealed class DaprSubscriptionTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    const string AppToken = "subscription-test-app-token";

    static ByteString Envelope(string id, JsonObject data, string type = "buildgrid.events.v1.BuildFinished") => ByteString.CopyFromUtf8(new JsonObject
    {
        ["specversion"] = "1.0", ["id"] = id, ["source"] = "/buildgrid/builds", ["type"] = type,
        ["datacontenttype"] = "application/json", ["time"] = DateTimeOffset.UtcNow.ToString("O"), ["data"] = data.DeepClone(),
    }.ToJsonString());

    [Fact]
    public async Task Containers_takes_build_finished_through_the_grpc_app_callback_once_and_dead_letters_what_it_cannot_read()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var sidecar = await FakeDaprSidecar.StartAsync(redis, AppToken);
        var dataDir = TestDirectories.Create("containers-dapr");
        try
        {
            await using var containers = await ServiceProcess.StartAsync("BuildGrid.Containers", new Dictionary<string, string>
            {
                ["BUILDGRID_DATA_DIR"] = dataDir,
                ["BUILDGRID_REDIS"] = redis.ConnectionString,
                ["DAPR_HTTP_PORT"] = sidecar.HttpPort.ToString(CultureInfo.InvariantCulture),
                ["DAPR_GRPC_PORT"] = sidecar.GrpcPort.ToString(CultureInfo.InvariantCulture),
                ["APP_API_TOKEN"] = AppToken,
            });
            // What daprd asks at its start: the declared topics, each with its dead-letter topic. Only with the app token.
            using var appChannel = GrpcChannel.ForAddress(containers.GrpcUrl);
            var callInvoker = appChannel.CreateCallInvoker();
            var list = new Method<Google.Protobuf.WellKnownTypes.Empty, ListTopicSubscriptionsResponse>(MethodType.Unary, "dapr.proto.runtime.v1.AppCallback",
                "ListTopicSubscriptions", Marshallers.Create(m => m.ToByteArray(), Google.Protobuf.WellKnownTypes.Empty.Parser.ParseFrom),
                Marshallers.Create(m => m.ToByteArray(), ListTopicSubscriptionsResponse.Parser.ParseFrom));
            var refused = await Assert.ThrowsAsync<RpcException>(async () => await callInvoker.AsyncUnaryCall(list, null, new CallOptions(), new()));
            Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
            var declared = await callInvoker.AsyncUnaryCall(list, null, new CallOptions(new Metadata { { "dapr-api-token", AppToken } }), new());
            var subscription = Assert.Single(declared.Subscriptions, s => s.Topic == "buildgrid.build.finished");
            Assert.Equal(("buildgrid-pubsub", "buildgrid.build.finished.deadletter"), (subscription.PubsubName, subscription.DeadLetterTopic));

            await sidecar.RegisterAsync("containers", containers.GrpcUrl);
            var client = new ContainersClient(appChannel);
            var project = await client.CreateProjectAsync(new Cv1.CreateProjectRequest { Name = "svc" }, cancellationToken: Ct);
            var branch = await client.CreateBranchAsync(new Cv1.CreateBranchRequest { ProjectId = project.Id, Name = "release" }, cancellationToken: Ct);

            // Published three times through Dapr's gRPC API (as BuildGrid's publisher does): delivered three times, applied once.
            using var daprChannel = GrpcChannel.ForAddress($"http://127.0.0.1:{sidecar.GrpcPort}");
            var dapr = new DaprApi.Dapr.DaprClient(daprChannel);
            async Task PublishAsync(ByteString envelope) => await dapr.PublishEventAsync(new DaprApi.PublishEventRequest
            {
                PubsubName = "buildgrid-pubsub", Topic = "buildgrid.build.finished", Data = envelope, DataContentType = "application/cloudevents+json",
            }, cancellationToken: Ct);
            var id = Guid.NewGuid().ToString();
            var finished = new JsonObject
            {
                ["runId"] = "run-1", ["project"] = "svc", ["branch"] = "release", ["status"] = "succeeded", ["tag"] = "2.0",
                ["commit"] = new string('a', 40), ["imageDigest"] = "sha256:" + new string('b', 64),
            };
            for (var i = 0; i < 3; i++)
                await PublishAsync(Envelope(id, finished));
            await Eventually.Async(() => sidecar.Deliveries.Count(d => d.EventId == id && d.Status == "SUCCESS"), n => n == 3, 30_000);
            var snapshot = Assert.Single((await client.ListSnapshotsAsync(new Cv1.ListSnapshotsRequest { BranchId = branch.Id }, cancellationToken: Ct)).Snapshots);
            Assert.Equal(("2.0", "run-1"), (snapshot.Name, snapshot.BuildRunId));

            // Data that is not a BuildFinished never will be: DROP, at once, to the dead-letter topic; nothing changes.
            var wrong = Guid.NewGuid().ToString();
            await PublishAsync(Envelope(wrong, new JsonObject { ["status"] = 5, ["runId"] = new JsonArray(1) }));
            await Eventually.Async(() => sidecar.DeadLetters.Contains(("buildgrid.build.finished.deadletter", wrong)), found => found, 30_000);
            Assert.Equal(["DROP"], sidecar.Deliveries.Where(d => d.EventId == wrong).Select(d => d.Status));
            Assert.Single((await client.ListSnapshotsAsync(new Cv1.ListSnapshotsRequest { BranchId = branch.Id }, cancellationToken: Ct)).Snapshots);
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }

    [Fact]
    public async Task A_handler_that_fails_is_retried_by_the_sidecar_and_dead_lettered_once_the_retries_are_spent()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var sidecar = await FakeDaprSidecar.StartAsync(redis, AppToken);
        var dataDir = TestDirectories.Create("dapr-retry");
        var app = BuildGridHost.Create(
        [
            "--BUILDGRID_REST_URL=http://127.0.0.1:0", "--BUILDGRID_GRPC_URL=http://127.0.0.1:0", $"--BUILDGRID_DATA_DIR={dataDir}",
            "--Logging:LogLevel:Default=Warning", $"--DAPR_GRPC_PORT={sidecar.GrpcPort}", $"--DAPR_HTTP_PORT={sidecar.HttpPort}",
            $"--APP_API_TOKEN={AppToken}",
        ]);
        // A handler whose store is briefly away: it fails twice, then applies the event; one that never recovers.
        var attempts = 0;
        app.MapEventSubscription("buildgrid.test.flaky", (_, _) =>
            Interlocked.Increment(ref attempts) <= 2 ? throw new InvalidOperationException("database is locked") : Task.CompletedTask);
        app.MapEventSubscription("buildgrid.test.broken", (_, _) => throw new InvalidOperationException("still down"));
        await app.StartAsync(Ct);
        try
        {
            var grpcUrl = app.Services.GetRequiredService<Core.Hosting.BuildGridEndpoints>().GrpcUri;
            await sidecar.RegisterAsync("gateway", grpcUrl);
            using var daprChannel = GrpcChannel.ForAddress($"http://127.0.0.1:{sidecar.GrpcPort}");
            var dapr = new DaprApi.Dapr.DaprClient(daprChannel);
            var (flaky, broken) = (Guid.NewGuid().ToString(), Guid.NewGuid().ToString());
            await dapr.PublishEventAsync(new DaprApi.PublishEventRequest { PubsubName = "buildgrid-pubsub", Topic = "buildgrid.test.flaky",
                Data = Envelope(flaky, new JsonObject { ["n"] = 1 }, "test") }, cancellationToken: Ct);
            await dapr.PublishEventAsync(new DaprApi.PublishEventRequest { PubsubName = "buildgrid-pubsub", Topic = "buildgrid.test.broken",
                Data = Envelope(broken, new JsonObject { ["n"] = 2 }, "test") }, cancellationToken: Ct);

            await Eventually.Async(() => sidecar.Deliveries.Any(d => d.EventId == flaky && d.Status == "SUCCESS"), done => done, 30_000);
            Assert.Equal(["RETRY", "RETRY", "SUCCESS"], sidecar.Deliveries.Where(d => d.EventId == flaky).Select(d => d.Status));
            await Eventually.Async(() => sidecar.DeadLetters.Contains(("buildgrid.test.broken.deadletter", broken)), found => found, 30_000);
            Assert.Equal(Enumerable.Repeat("RETRY", 1 + FakeDaprSidecar.MaxRetries), sidecar.Deliveries.Where(d => d.EventId == broken).Select(d => d.Status));
            Assert.DoesNotContain(sidecar.DeadLetters, d => d.EventId == flaky);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
            TestDirectories.TryDelete(dataDir);
        }
    }
}
