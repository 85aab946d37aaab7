using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BuildGrid.Tests.Infrastructure;
using BuildGrid.Tests.Quay;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using RegistryClient = BuildGrid.Registry.V1.Registry.RegistryClient;
using V1 = BuildGrid.Registry.V1;

namespace BuildGrid.Tests.Registry;

/// <summary>
/// Two Registry processes (services/BuildGrid.Registry, distributed mode) sharing one data directory and one database,
/// as replicas behind a load balancer would: the collector of one must never take a blob the other is pushing.
/// </summary>
public sealed class ReplicaTests : IAsyncLifetime
{
    readonly string dataDir = TestDirectories.Create("registry-replicas");
    ServiceProcess first = null!;
    ServiceProcess second = null!;
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        var environment = new Dictionary<string, string>
        {
            ["BUILDGRID_DATA_DIR"] = dataDir,
            ["Registry__GcInterval"] = "00:00:00",
            ["Registry__GcLease"] = "00:00:03",
            // Both senders poll often, so that both see every delivery while it is due.
            ["Registry__Notifications__AllowedNetworks__0"] = "127.0.0.1/32",
            ["Registry__Notifications__PollInterval"] = "00:00:00.050",
        };
        // One after the other: the first applies the migrations, the second finds the database up to date.
        first = await ServiceProcess.StartAsync("BuildGrid.Registry", environment);
        second = await ServiceProcess.StartAsync("BuildGrid.Registry", environment);
    }

    public async ValueTask DisposeAsync()
    {
        await first.DisposeAsync();
        await second.DisposeAsync();
        TestDirectories.TryDelete(dataDir);
        // Neither replica logged an error (the simple console format writes them as "fail:").
        Assert.DoesNotContain("fail:", first.Output);
        Assert.DoesNotContain("fail:", second.Output);
    }

    [Fact]
    public async Task Gc_on_one_replica_while_the_other_pushes_the_same_blobs_never_loses_a_linked_blob()
    {
        const string repository = "team/replicas";
        using var pusherHttp = new HttpClient { BaseAddress = second.RestUrl };
        using var pullerHttp = new HttpClient { BaseAddress = first.RestUrl };
        var pusher = new V2Client(pusherHttp);
        var puller = new V2Client(pullerHttp);
        using var channel = GrpcChannel.ForAddress(first.GrpcUrl);
        var collector = new RegistryClient(channel);

        // Unreferenced blobs that the collection (no grace period) sweeps while the other replica pushes them again, in
        // the order the collector visits them, chunked and monolithic.
        var layers = Enumerable.Range(0, 120).Select(_ => new TestBlob(RandomNumberGenerator.GetBytes(4096), "application/octet-stream"))
            .OrderBy(b => b.Digest, StringComparer.Ordinal).ToList();
        foreach (var layer in layers)
            await pusher.PushBlobAsync(repository, layer);

        var pushes = 0;
        var collections = 0;
        for (var round = 0; round < 3; round++)
        {
            var collecting = Task.Run(async () =>
            {
                var report = await collector.RunGarbageCollectionAsync(new V1.RunGarbageCollectionRequest
                {
                    GracePeriod = Duration.FromTimeSpan(TimeSpan.Zero),
                }, cancellationToken: Ct);
                Interlocked.Add(ref collections, report.DeletedDigests.Count);
            }, Ct);
            for (var i = 0; i < layers.Count; i++)
            {
                // Every push succeeds: a collection in progress never makes an upload fail.
                if (i % 2 == 0)
                    await PushChunkedAsync(pusher, repository, layers[i]);
                else
                    await pusher.PushBlobAsync(repository, layers[i]);
                pushes++;
            }
            await collecting;
        }
        Assert.Equal(3 * layers.Count, pushes);
        Assert.True(collections > 0, "the collections swept nothing: they did not run beside the pushes");

        // The image that names every layer. A layer that a collection swept after its push (no grace period, no manifest
        // yet) is refused by name and pushed again; a layer whose row survived must have its file: the put checks rows
        // only, the pull reads the files.
        var config = new TestBlob(JsonSerializer.SerializeToUtf8Bytes(new
        {
            architecture = "amd64", os = "linux", rootfs = new { type = "layers", diff_ids = layers.Select(l => l.Digest).ToArray() },
        }), "application/vnd.oci.image.config.v1+json");
        await pusher.PushBlobAsync(repository, config);
        var manifest = new TestBlob(JsonSerializer.SerializeToUtf8Bytes(new
        {
            schemaVersion = 2, mediaType = OciTestImage.OciManifest, config = config.Descriptor(), layers = layers.Select(l => l.Descriptor()).ToArray(),
        }), OciTestImage.OciManifest);
        for (var attempt = 0; ; attempt++)
        {
            using var put = await pusher.PutManifestAsync(repository, "all", manifest);
            if (put.StatusCode == HttpStatusCode.Created)
                break;
            var body = await put.Content.ReadAsStringAsync(Ct);
            Assert.True(attempt < layers.Count + 1, $"manifest put keeps failing: {body}");
            using var error = JsonDocument.Parse(body);
            Assert.Equal("MANIFEST_BLOB_UNKNOWN", error.RootElement.GetProperty("errors")[0].GetProperty("code").GetString());
            var missing = error.RootElement.GetProperty("errors")[0].GetProperty("detail").GetString();
            await pusher.PushBlobAsync(repository, layers.Concat([config]).Single(b => b.Digest == missing));
        }

        // The image pulls from the replica that collected, byte for byte.
        using (var get = await puller.SendAsync(HttpMethod.Get, $"/v2/{repository}/manifests/all",
            configure: r => r.Headers.Accept.ParseAdd(OciTestImage.OciManifest)))
        {
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Equal(manifest.Digest, V2Client.Header(get, "Docker-Content-Digest"));
        }
        foreach (var blob in layers.Append(config))
        {
            using var get = await puller.SendAsync(HttpMethod.Get, $"/v2/{repository}/blobs/{blob.Digest}");
            Assert.True(get.StatusCode == HttpStatusCode.OK, $"{blob.Digest} is linked but does not pull: {(int)get.StatusCode}");
            Assert.Equal(blob.Bytes, await get.Content.ReadAsByteArrayAsync(Ct));
        }

        // And once referenced, nothing of it goes, whichever replica collects.
        var after = await new RegistryClient(GrpcChannel.ForAddress(second.GrpcUrl)).RunGarbageCollectionAsync(
            new V1.RunGarbageCollectionRequest { GracePeriod = Duration.FromTimeSpan(TimeSpan.Zero) }, cancellationToken: Ct);
        Assert.Empty(after.DeletedDigests);
    }

    [Fact]
    public async Task A_blob_that_the_other_replica_is_uploading_is_not_collected_and_the_image_pulls()
    {
        const string repository = "team/inflight";
        using var pusherHttp = new HttpClient { BaseAddress = second.RestUrl };
        using var pullerHttp = new HttpClient { BaseAddress = first.RestUrl };
        var pusher = new V2Client(pusherHttp);
        var puller = new V2Client(pullerHttp);
        var image = OciTestImage.Create("uploaded while the other replica collects");
        var stale = new TestBlob(RandomNumberGenerator.GetBytes(2000), "application/octet-stream");
        // The layer is already stored, unreferenced (a push that never put its manifest): past a zero grace period it
        // is garbage — unless someone is uploading it again right now.
        await pusher.PushBlobAsync(repository, image.Layer);
        await pusher.PushBlobAsync(repository, stale);

        // The second replica receives the layer again, monolithically: headers and half the body, the rest held back.
        var uploads = Path.Combine(dataDir, "registry", "uploads");
        using var upload = new TcpClient();
        await upload.ConnectAsync(second.RestUrl.Host, second.RestUrl.Port, Ct);
        var stream = upload.GetStream();
        var half = image.Layer.Bytes.Length / 2;
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"POST /v2/{repository}/blobs/uploads/?digest={image.Layer.Digest} HTTP/1.1\r\nHost: {second.RestUrl.Authority}\r\n" +
            $"Content-Type: application/octet-stream\r\nContent-Length: {image.Layer.Bytes.Length}\r\nConnection: close\r\n\r\n"), Ct);
        await stream.WriteAsync(image.Layer.Bytes.AsMemory(0, half), Ct);
        await stream.FlushAsync(Ct);
        // Its upload file appears once the upload has claimed the digest.
        await Eventually.Async(() => Directory.EnumerateFiles(uploads, "*.mono").Count(), n => n == 1);

        using var channel = GrpcChannel.ForAddress(first.GrpcUrl);
        var report = await new RegistryClient(channel).RunGarbageCollectionAsync(
            new V1.RunGarbageCollectionRequest { GracePeriod = Duration.FromTimeSpan(TimeSpan.Zero) }, cancellationToken: Ct);
        Assert.Equal([stale.Digest], report.DeletedDigests);
        using (var head = await puller.SendAsync(HttpMethod.Head, $"/v2/{repository}/blobs/{image.Layer.Digest}"))
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);

        await stream.WriteAsync(image.Layer.Bytes.AsMemory(half), Ct);
        await stream.FlushAsync(Ct);
        using (var reader = new StreamReader(stream, Encoding.ASCII))
            Assert.StartsWith("HTTP/1.1 201", await reader.ReadLineAsync(Ct));
        await pusher.PushBlobAsync(repository, image.Config);
        using (var put = await pusher.PutManifestAsync(repository, "1.0", image.Manifest))
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);

        using (var manifest = await puller.SendAsync(HttpMethod.Get, $"/v2/{repository}/manifests/1.0",
            configure: r => r.Headers.Accept.ParseAdd(OciTestImage.OciManifest)))
            Assert.Equal(image.Manifest.Bytes, await manifest.Content.ReadAsByteArrayAsync(Ct));
        foreach (var blob in image.Blobs)
        {
            using var get = await puller.SendAsync(HttpMethod.Get, $"/v2/{repository}/blobs/{blob.Digest}");
            Assert.Equal(blob.Bytes, await get.Content.ReadAsByteArrayAsync(Ct));
        }
    }

    [Fact]
    public async Task One_collection_runs_at_a_time_across_replicas_and_a_dead_collectors_lease_lapses()
    {
        const string repository = "team/lease";
        using var http = new HttpClient { BaseAddress = second.RestUrl };
        var v2 = new V2Client(http);
        var orphan = new TestBlob(RandomNumberGenerator.GetBytes(1000), "application/octet-stream");
        await v2.PushBlobAsync(repository, orphan);

        // The lease row a replica writes when it starts collecting, left by one that was killed mid-way (simulated: a
        // third process cannot be paused at that point). Registry:GcLease is 3 s here.
        await using (var connection = await PostgresServer.OpenServiceDatabaseAsync(dataDir, "registry"))
        {
            await using var insert = connection.CreateCommand();
            insert.CommandText = "INSERT INTO registry_leases (name, holder, expires_at) VALUES ('gc', 'replica-killed-mid-collection', @expires)";
            var expires = insert.CreateParameter();
            (expires.ParameterName, expires.Value) = ("expires", DateTimeOffset.UtcNow.AddSeconds(3).ToUnixTimeMilliseconds());
            insert.Parameters.Add(expires);
            await insert.ExecuteNonQueryAsync(Ct);
        }
        var request = new V1.RunGarbageCollectionRequest { GracePeriod = Duration.FromTimeSpan(TimeSpan.Zero) };
        foreach (var replica in new[] { first, second })
        {
            using var channel = GrpcChannel.ForAddress(replica.GrpcUrl);
            var busy = await Assert.ThrowsAsync<RpcException>(() => new RegistryClient(channel).RunGarbageCollectionAsync(request, cancellationToken: Ct).ResponseAsync);
            Assert.Equal(StatusCode.Aborted, busy.StatusCode);
        }
        using (var head = await v2.SendAsync(HttpMethod.Head, $"/v2/{repository}/blobs/{orphan.Digest}"))
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);

        // Once the dead holder's lease lapses, a replica takes it and collects.
        using var firstChannel = GrpcChannel.ForAddress(first.GrpcUrl);
        var collector = new RegistryClient(firstChannel);
        V1.GarbageCollectionReport? report = null;
        await Eventually.Async(() => report ??= TryCollect(collector, request), r => r is not null, timeoutMs: 30_000);
        Assert.Equal([orphan.Digest], report!.DeletedDigests);
        using (var head = await v2.SendAsync(HttpMethod.Head, $"/v2/{repository}/blobs/{orphan.Digest}"))
            Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
        // The lease was given back at the end: the other replica collects straight away.
        using var secondChannel = GrpcChannel.ForAddress(second.GrpcUrl);
        var again = await new RegistryClient(secondChannel).RunGarbageCollectionAsync(request, cancellationToken: Ct);
        Assert.Empty(again.DeletedDigests);
    }

    [Fact]
    public async Task Each_notification_delivery_is_sent_by_one_replica_only()
    {
        const string repository = "team/notified";
        await using var receiver = await WebhookReceiver.StartAsync();
        // A slow target keeps each send in flight across several polls of the other replica's sender.
        receiver.Delay = TimeSpan.FromMilliseconds(300);
        using var channel = GrpcChannel.ForAddress(first.GrpcUrl);
        var registry = new RegistryClient(channel);
        await registry.CreateRepositoryAsync(new V1.CreateRepositoryRequest { Name = repository }, cancellationToken: Ct);
        var notification = await registry.CreateNotificationAsync(new V1.CreateNotificationRequest
        {
            Repository = repository, Event = "repo_push", Method = "webhook",
            Config = new Struct { Fields = { ["url"] = Value.ForString(receiver.Hook("once")) } },
        }, cancellationToken: Ct);
        var reference = new V1.NotificationRef { Repository = repository, Uuid = notification.Uuid };
        for (var i = 0; i < 5; i++)
            await registry.TestNotificationAsync(reference, cancellationToken: Ct);

        var request = new V1.ListNotificationDeliveriesRequest { Repository = repository, Uuid = notification.Uuid };
        await Eventually.Async(() => registry.ListNotificationDeliveries(request, cancellationToken: Ct).Deliveries,
            d => d.Count == 5 && d.All(x => x.DeliverTime is not null), timeoutMs: 30_000);
        // A second send of a delivery would have reached the target by now (it starts before the first one is recorded).
        await Task.Delay(receiver.Delay * 2, Ct);
        Assert.Equal(5, receiver.Calls);
        Assert.All(registry.ListNotificationDeliveries(request, cancellationToken: Ct).Deliveries, d => Assert.Equal(1, d.Attempts));
    }

    static V1.GarbageCollectionReport? TryCollect(RegistryClient collector, V1.RunGarbageCollectionRequest request)
    {
        try
        {
            return collector.RunGarbageCollection(request, cancellationToken: Ct);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Aborted)
        {
            return null;
        }
    }

    /// <summary>POST, PATCH with the bytes, PUT ?digest=: the chunked flow, whose PUT claims the digest.</summary>
    static async Task PushChunkedAsync(V2Client v2, string repository, TestBlob blob)
    {
        using var session = await v2.SendAsync(HttpMethod.Post, $"/v2/{repository}/blobs/uploads/");
        Assert.Equal(HttpStatusCode.Accepted, session.StatusCode);
        using var patch = await v2.SendAsync(HttpMethod.Patch, V2Client.Header(session, "Location"), blob.Bytes);
        Assert.Equal(HttpStatusCode.Accepted, patch.StatusCode);
        var location = V2Client.Header(patch, "Location");
        using var put = await v2.SendAsync(HttpMethod.Put, location + (location.Contains('?') ? "&" : "?") + "digest=" + blob.Digest);
        Assert.True(put.StatusCode == HttpStatusCode.Created, $"chunked push: {(int)put.StatusCode} {await put.Content.ReadAsStringAsync(Ct)}");
    }
}
