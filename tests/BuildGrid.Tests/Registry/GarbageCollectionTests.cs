using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using BuildGrid.Tests.Infrastructure;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using RegistryClient = BuildGrid.Registry.V1.Registry.RegistryClient;
using V1 = BuildGrid.Registry.V1;

namespace BuildGrid.Tests.Registry;

/// <summary>
/// Delete + garbage collection and the registry.v1 gRPC API, each test on its own standalone host (own data directory),
/// so a collection with no grace period cannot touch another test's pushes.
/// </summary>
public sealed class GarbageCollectionTests : IAsyncLifetime
{
    readonly string dataDir = TestDirectories.Create("registry-gc");
    readonly ErrorLog errors = new();
    WebApplication app = null!;
    HttpClient http = null!;
    GrpcChannel channel = null!;
    V2Client v2 = null!;
    RegistryClient grpc = null!;
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        (app, var rest, var grpcUrl) = await StandaloneFixture.StartAsync(dataDir, errors, "--Registry:GcInterval=00:00:00");
        http = new HttpClient { BaseAddress = rest };
        channel = GrpcChannel.ForAddress(grpcUrl);
        v2 = new V2Client(http);
        grpc = new RegistryClient(channel);
    }

    public async ValueTask DisposeAsync()
    {
        http.Dispose();
        channel.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
        TestDirectories.TryDelete(dataDir);
        Assert.Empty(errors.Entries);
    }

    string BlobPath(TestBlob blob) => Path.Combine(dataDir, "registry", "blobs", "sha256", blob.Hex[..2], blob.Hex);

    /// <summary>Found by the hostile campaign: seconds and nanos of different signs were answered Unknown.</summary>
    [Fact]
    public async Task A_grace_period_that_is_not_a_duration_is_an_invalid_argument()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => grpc.RunGarbageCollectionAsync(
            new V1.RunGarbageCollectionRequest { DryRun = true, GracePeriod = new Duration { Seconds = 5, Nanos = -5 } }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
    }

    [Fact]
    public async Task Gc_sweeps_what_no_manifest_references_and_keeps_the_rest_and_pushes_in_flight()
    {
        var kept = OciTestImage.Create("kept");
        var dropped = OciTestImage.Create("dropped");
        var orphan = new TestBlob("orphan blob"u8.ToArray(), "application/octet-stream");
        await v2.PushImageAsync("team/app", "keep", kept);
        await v2.PushImageAsync("team/app", "drop", dropped);
        await v2.PushBlobAsync("team/app", orphan);
        // Mounted elsewhere: a second link to a referenced blob.
        using (var mount = await v2.SendAsync(HttpMethod.Post, $"/v2/team/other/blobs/uploads/?mount={kept.Layer.Digest}&from=team/app"))
            Assert.Equal(HttpStatusCode.Created, mount.StatusCode);
        using (var delete = await v2.SendAsync(HttpMethod.Delete, $"/v2/team/app/manifests/{dropped.Manifest.Digest}"))
            Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        // A chunked upload in progress.
        using var session = await v2.SendAsync(HttpMethod.Post, "/v2/team/app/blobs/uploads/");
        var location = V2Client.Header(session, "Location");
        using (var patch = await v2.SendAsync(HttpMethod.Patch, location, new byte[1000]))
            Assert.Equal(HttpStatusCode.Accepted, patch.StatusCode);

        // With the configured grace period (1 h) nothing just pushed goes.
        var safe = await grpc.RunGarbageCollectionAsync(new V1.RunGarbageCollectionRequest(), cancellationToken: Ct);
        Assert.Equal(0, safe.BlobsDeleted);

        var expected = new[] { dropped.Layer, dropped.Config, orphan }.Select(b => b.Digest).Order().ToArray();
        var dry = await grpc.RunGarbageCollectionAsync(new V1.RunGarbageCollectionRequest
        {
            DryRun = true, GracePeriod = Duration.FromTimeSpan(TimeSpan.Zero),
        }, cancellationToken: Ct);
        Assert.True(dry.DryRun);
        Assert.Equal(expected, dry.DeletedDigests.Order().ToArray());
        Assert.True(File.Exists(BlobPath(orphan)));

        var report = await grpc.RunGarbageCollectionAsync(new V1.RunGarbageCollectionRequest
        {
            GracePeriod = Duration.FromTimeSpan(TimeSpan.Zero),
        }, cancellationToken: Ct);
        Assert.Equal(expected, report.DeletedDigests.Order().ToArray());
        Assert.Equal(dropped.Layer.Size + dropped.Config.Size + orphan.Size, report.BytesFreed);
        Assert.Equal(2, report.BlobsMarked);
        foreach (var blob in new[] { dropped.Layer, dropped.Config, orphan })
        {
            Assert.False(File.Exists(BlobPath(blob)));
            using var head = await v2.SendAsync(HttpMethod.Head, $"/v2/team/app/blobs/{blob.Digest}");
            Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
        }
        foreach (var blob in kept.Blobs)
        {
            using var get = await v2.SendAsync(HttpMethod.Get, $"/v2/team/app/blobs/{blob.Digest}");
            Assert.Equal(blob.Bytes, await get.Content.ReadAsByteArrayAsync(Ct));
        }
        using (var mounted = await v2.SendAsync(HttpMethod.Head, $"/v2/team/other/blobs/{kept.Layer.Digest}"))
            Assert.Equal(HttpStatusCode.OK, mounted.StatusCode);
        // The upload session (24 h expiry) is still there, and a manifest naming a swept blob is refused honestly.
        using (var status = await v2.SendAsync(HttpMethod.Get, location))
            Assert.Equal("0-999", V2Client.Header(status, "Range"));
        using (var stale = await v2.PutManifestAsync("team/app", "again", dropped.Manifest))
            Assert.Equal("MANIFEST_BLOB_UNKNOWN", await V2Client.ErrorCodeAsync(stale));
        // Pushing it again works: the sweep left no half state behind.
        await v2.PushImageAsync("team/app", "again", dropped);
    }

    /// <summary>
    /// The race of a sweep with a push: a blob listed as unreferenced, then a manifest naming it is put, then the sweep
    /// reaches it. Each put either keeps its blobs (the sweep checks again when it gets there) or is refused.
    /// </summary>
    [Fact]
    public async Task A_manifest_put_while_the_sweep_runs_keeps_its_blobs_or_is_refused()
    {
        const string repository = "team/race";
        var image = OciTestImage.Create("race");
        await v2.PushImageAsync(repository, "base", image);
        // Unreferenced layers; the sweep visits them in digest order, the puts below name them from the other end.
        var layers = Enumerable.Range(0, 300).Select(_ => new TestBlob(RandomNumberGenerator.GetBytes(512), "application/octet-stream"))
            .OrderBy(b => b.Digest, StringComparer.Ordinal).ToList();
        foreach (var layer in layers)
            await v2.PushBlobAsync(repository, layer);

        var collecting = grpc.RunGarbageCollectionAsync(new V1.RunGarbageCollectionRequest
        {
            GracePeriod = Duration.FromTimeSpan(TimeSpan.Zero),
        }, cancellationToken: Ct).ResponseAsync;
        // The first layer's file goes: the sweep has listed its candidates, all the layers among them.
        await Eventually.Async(() => File.Exists(BlobPath(layers[0])), exists => !exists, timeoutMs: 30_000);
        var accepted = new List<TestBlob>();
        for (var i = layers.Count - 1; i > 0 && !collecting.IsCompleted; i--)
        {
            var manifest = new TestBlob(JsonSerializer.SerializeToUtf8Bytes(new
            {
                schemaVersion = 2, mediaType = OciTestImage.OciManifest, config = image.Config.Descriptor(), layers = new[] { layers[i].Descriptor() },
            }), OciTestImage.OciManifest);
            using var put = await v2.PutManifestAsync(repository, $"layer-{i}", manifest);
            if (put.StatusCode == HttpStatusCode.Created)
                accepted.Add(layers[i]);
            else
                Assert.Equal("MANIFEST_BLOB_UNKNOWN", await V2Client.ErrorCodeAsync(put));
        }
        var report = await collecting;

        Assert.NotEmpty(accepted);
        Assert.Contains(layers[0].Digest, report.DeletedDigests);
        foreach (var layer in accepted)
        {
            Assert.DoesNotContain(layer.Digest, report.DeletedDigests);
            using var get = await v2.SendAsync(HttpMethod.Get, $"/v2/{repository}/blobs/{layer.Digest}");
            Assert.True(get.StatusCode == HttpStatusCode.OK, $"{layer.Digest} was put in a manifest during the sweep and is gone");
            Assert.Equal(layer.Bytes, await get.Content.ReadAsByteArrayAsync(Ct));
        }
    }

    /// <summary>
    /// What a kill -9 leaves between two steps of a push: a complete blob file whose row was never written (killed after
    /// the rename), and the temp file of a monolithic upload (killed mid-body). Neither is served; the collector removes both.
    /// </summary>
    [Fact]
    public async Task Files_a_kill_leaves_between_steps_are_never_served_and_the_collector_removes_them()
    {
        const string repository = "team/stray";
        var image = OciTestImage.Create("stray");
        await v2.PushImageAsync(repository, "1", image);
        var unlinked = new TestBlob(RandomNumberGenerator.GetBytes(3000), "application/octet-stream");
        Directory.CreateDirectory(Path.GetDirectoryName(BlobPath(unlinked))!);
        await File.WriteAllBytesAsync(BlobPath(unlinked), unlinked.Bytes, Ct);
        var upload = Path.Combine(dataDir, "registry", "uploads", Guid.NewGuid().ToString("N") + ".mono");
        await File.WriteAllBytesAsync(upload, unlinked.Bytes[..1000], Ct);
        // Older than Registry:UploadExpiry (24 h): no upload in progress can own it.
        File.SetLastWriteTimeUtc(upload, DateTime.UtcNow.AddDays(-2));

        using (var head = await v2.SendAsync(HttpMethod.Head, $"/v2/{repository}/blobs/{unlinked.Digest}"))
            Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
        using (var mount = await v2.SendAsync(HttpMethod.Post, $"/v2/team/other/blobs/uploads/?mount={unlinked.Digest}&from={repository}"))
            Assert.Equal(HttpStatusCode.Accepted, mount.StatusCode);
        using (var put = await v2.SendAsync(HttpMethod.Put, $"/v2/{repository}/manifests/2", JsonSerializer.SerializeToUtf8Bytes(new
        {
            schemaVersion = 2, mediaType = OciTestImage.OciManifest, config = image.Config.Descriptor(), layers = new[] { unlinked.Descriptor() },
        }), OciTestImage.OciManifest))
            Assert.Equal("MANIFEST_BLOB_UNKNOWN", await V2Client.ErrorCodeAsync(put));

        var report = await grpc.RunGarbageCollectionAsync(new V1.RunGarbageCollectionRequest
        {
            GracePeriod = Duration.FromTimeSpan(TimeSpan.Zero),
        }, cancellationToken: Ct);
        Assert.Equal(2, report.StrayFilesDeleted);
        Assert.Equal(unlinked.Size, report.BytesFreed);
        Assert.False(File.Exists(BlobPath(unlinked)));
        Assert.False(File.Exists(upload));
        foreach (var blob in image.Blobs)
            Assert.True(File.Exists(BlobPath(blob)));
    }

    /// <summary>
    /// A power loss with Registry:SyncBlobs off can leave a linked blob's file short. The registry never serves it as the
    /// blob, and the client's next push of that blob replaces the file.
    /// </summary>
    [Fact]
    public async Task A_blob_file_cut_short_on_disk_is_not_served_and_the_next_push_repairs_it()
    {
        const string repository = "team/short";
        var image = OciTestImage.Create("cut short");
        await v2.PushImageAsync(repository, "1", image);
        await using (var file = new FileStream(BlobPath(image.Layer), FileMode.Open, FileAccess.Write))
            file.SetLength(image.Layer.Size / 2);

        foreach (var method in new[] { HttpMethod.Head, HttpMethod.Get })
        {
            using var cut = await v2.SendAsync(method, $"/v2/{repository}/blobs/{image.Layer.Digest}");
            Assert.Equal(HttpStatusCode.NotFound, cut.StatusCode);
        }
        // Nor is it mounted: the client gets an upload session instead.
        using (var mount = await v2.SendAsync(HttpMethod.Post, $"/v2/team/elsewhere/blobs/uploads/?mount={image.Layer.Digest}&from={repository}"))
            Assert.Equal(HttpStatusCode.Accepted, mount.StatusCode);

        await v2.PushBlobAsync(repository, image.Layer);
        using var get = await v2.SendAsync(HttpMethod.Get, $"/v2/{repository}/blobs/{image.Layer.Digest}");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(image.Layer.Bytes, await get.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal(image.Layer.Bytes, await File.ReadAllBytesAsync(BlobPath(image.Layer), Ct));
    }

    [Fact]
    public async Task Grpc_api_lists_reads_and_deletes_repositories_tags_and_manifests()
    {
        var image = OciTestImage.Create("grpc");
        await v2.PushImageAsync("cluster-a/web", "v1", image);
        await v2.PushImageAsync("cluster-a/web", "v2", image);
        await v2.PushImageAsync("cluster-a/api", "v1", image);
        await v2.PushImageAsync("cluster-b/web", "v1", image);

        var first = await grpc.ListRepositoriesAsync(new V1.ListRepositoriesRequest { NamePrefix = "cluster-a/", PageSize = 1 }, cancellationToken: Ct);
        Assert.Equal(2, first.TotalSize);
        Assert.Equal("cluster-a/api", Assert.Single(first.Repositories).Name);
        var second = await grpc.ListRepositoriesAsync(new V1.ListRepositoriesRequest
        {
            NamePrefix = "cluster-a/", PageSize = 1, PageToken = first.NextPageToken,
        }, cancellationToken: Ct);
        var web = Assert.Single(second.Repositories);
        Assert.Equal("cluster-a/web", web.Name);
        Assert.Equal("", second.NextPageToken);
        Assert.Equal(2, web.TagCount);
        Assert.Equal(1, web.ManifestCount);
        Assert.Equal(image.Layer.Size + image.Config.Size, web.SizeBytes);

        var tags = await grpc.ListTagsAsync(new V1.ListTagsRequest { Repository = "cluster-a/web" }, cancellationToken: Ct);
        Assert.Equal(["v1", "v2"], tags.Tags.Select(t => t.Name).ToArray());
        Assert.All(tags.Tags, t => Assert.Equal(image.Manifest.Digest, t.Digest));

        var manifest = await grpc.GetManifestAsync(new V1.GetManifestRequest { Repository = "cluster-a/web", Reference = "v1", IncludeConfig = true },
            cancellationToken: Ct);
        Assert.Equal(image.Manifest.Digest, manifest.Digest);
        Assert.Equal(image.Manifest.Bytes, manifest.Content.ToByteArray());
        Assert.Equal(image.Config.Bytes, manifest.Config.ToByteArray());
        Assert.Equal(image.Layer.Digest, Assert.Single(manifest.Layers).Digest);
        Assert.Equal(["v1", "v2"], manifest.Tags.ToArray());

        await grpc.DeleteTagAsync(new V1.DeleteTagRequest { Repository = "cluster-a/web", Tag = "v1" }, cancellationToken: Ct);
        var missingTag = await Assert.ThrowsAsync<RpcException>(() =>
            grpc.DeleteTagAsync(new V1.DeleteTagRequest { Repository = "cluster-a/web", Tag = "v1" }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missingTag.StatusCode);
        Assert.Equal("TAG_NOT_FOUND", BuildGrid.Core.Errors.Errors.Info(missingTag)?.Reason);

        var bus = app.Services.GetRequiredService<BuildGrid.Core.Events.InProcessEventBus>();
        var events = new System.Collections.Concurrent.ConcurrentQueue<BuildGrid.Core.Events.CloudEvent>();
        using var tagDeleted = bus.Subscribe("buildgrid.tag.deleted", (e, _) => { events.Enqueue(e); return Task.CompletedTask; });
        using var repositoryDeleted = bus.Subscribe("buildgrid.repository.deleted", (e, _) => { events.Enqueue(e); return Task.CompletedTask; });
        await grpc.DeleteRepositoryAsync(new V1.DeleteRepositoryRequest { Name = "cluster-a/web", Operator = "alice" }, cancellationToken: Ct);
        // The earlier DeleteTag's event (v1) may still be on its way out of the outbox: it is not part of this delete.
        List<BuildGrid.Core.Events.CloudEvent> OfThisDelete() => events.Where(e =>
            !(System.Text.Json.JsonDocument.Parse(e.Data).RootElement.TryGetProperty("tag", out var t) && t.GetString() == "v1")).ToList();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (OfThisDelete().Count < 2 && DateTime.UtcNow < deadline)
            await Task.Delay(50, Ct);
        Assert.Equal(["buildgrid.tag.deleted", "buildgrid.repository.deleted"], OfThisDelete().Select(e => e.Topic).ToArray());
        var tagEvent = System.Text.Json.JsonDocument.Parse(OfThisDelete().First().Data).RootElement;
        Assert.Equal(("cluster-a/web", "v2", image.Manifest.Digest, "alice"), (tagEvent.GetProperty("repository").GetString(),
            tagEvent.GetProperty("tag").GetString(), tagEvent.GetProperty("digest").GetString(), tagEvent.GetProperty("operator").GetString()));
        using (var gone = await v2.SendAsync(HttpMethod.Get, "/v2/cluster-a/web/tags/list"))
            Assert.Equal("NAME_UNKNOWN", await V2Client.ErrorCodeAsync(gone));
        var missing = await Assert.ThrowsAsync<RpcException>(() =>
            grpc.GetRepositoryAsync(new V1.GetRepositoryRequest { Name = "cluster-a/web" }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal("REPOSITORY_NOT_FOUND", BuildGrid.Core.Errors.Errors.Info(missing)?.Reason);
        var invalid = await Assert.ThrowsAsync<RpcException>(() =>
            grpc.GetRepositoryAsync(new V1.GetRepositoryRequest { Name = "../etc" }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);

        // The other repositories still serve the shared blobs.
        using var other = await v2.SendAsync(HttpMethod.Get, $"/v2/cluster-b/web/blobs/{image.Layer.Digest}");
        Assert.Equal(image.Layer.Bytes, await other.Content.ReadAsByteArrayAsync(Ct));
    }
}
