using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using BuildGrid.Core.Events;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Registry;

/// <summary>The OCI distribution API of a standalone host over raw HTTP: statuses, headers and error codes of the spec.</summary>
[Collection(StandaloneCollection.Name)]
public sealed class DistributionApiTests(StandaloneFixture fixture)
{
    readonly V2Client v2 = new(fixture.Rest);
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("/v2/")]
    [InlineData("/v2")]
    public async Task V2_check_answers_200_with_the_api_version_header(string path)
    {
        using var response = await v2.SendAsync(HttpMethod.Get, path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("registry/2.0", V2Client.Header(response, "Docker-Distribution-API-Version"));
        Assert.Equal("{}", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Monolithic_upload_then_head_get_and_ranges()
    {
        var repo = V2Client.UniqueRepository("mono");
        var blob = new TestBlob(Encoding.ASCII.GetBytes("0123456789abcdef"), "application/octet-stream");
        using (var created = await v2.SendAsync(HttpMethod.Post, $"/v2/{repo}/blobs/uploads/?digest={blob.Digest}", blob.Bytes))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            Assert.Equal($"/v2/{repo}/blobs/{blob.Digest}", V2Client.Header(created, "Location"));
            Assert.Equal(blob.Digest, V2Client.Header(created, "Docker-Content-Digest"));
        }
        using (var head = await v2.SendAsync(HttpMethod.Head, $"/v2/{repo}/blobs/{blob.Digest}"))
        {
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Equal(16, head.Content.Headers.ContentLength);
            Assert.Equal(blob.Digest, V2Client.Header(head, "Docker-Content-Digest"));
        }
        using (var get = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/blobs/{blob.Digest}"))
            Assert.Equal(blob.Bytes, await get.Content.ReadAsByteArrayAsync(Ct));
        using (var range = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/blobs/{blob.Digest}", configure: r => r.Headers.Range = new(2, 5)))
        {
            Assert.Equal(HttpStatusCode.PartialContent, range.StatusCode);
            Assert.Equal("bytes 2-5/16", range.Content.Headers.ContentRange!.ToString());
            Assert.Equal("2345", await range.Content.ReadAsStringAsync(Ct));
        }
        using (var suffix = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/blobs/{blob.Digest}", configure: r => r.Headers.Range = new(null, 3)))
            Assert.Equal("def", await suffix.Content.ReadAsStringAsync(Ct));
        using (var beyond = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/blobs/{blob.Digest}", configure: r => r.Headers.Range = new(16, 20)))
        {
            Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, beyond.StatusCode);
            Assert.Equal("bytes */16", beyond.Content.Headers.ContentRange!.ToString());
        }
        using (var backwards = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/blobs/{blob.Digest}",
            configure: r => r.Headers.TryAddWithoutValidation("Range", "bytes=5-0")))
            Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, backwards.StatusCode);
        using (var open = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/blobs/{blob.Digest}", configure: r => r.Headers.Range = new(10, 99)))
        {
            Assert.Equal("bytes 10-15/16", open.Content.Headers.ContentRange!.ToString());
            Assert.Equal("abcdef", await open.Content.ReadAsStringAsync(Ct));
        }
        // Blobs are scoped to repositories: another repository that exists does not serve it.
        var other = V2Client.UniqueRepository("other");
        await v2.PushBlobAsync(other, new TestBlob([1, 2, 3], "application/octet-stream"));
        using (var elsewhere = await v2.SendAsync(HttpMethod.Get, $"/v2/{other}/blobs/{blob.Digest}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, elsewhere.StatusCode);
            Assert.Equal("BLOB_UNKNOWN", await V2Client.ErrorCodeAsync(elsewhere));
        }
    }

    [Fact]
    public async Task Chunked_upload_with_content_range_status_and_resume()
    {
        var repo = V2Client.UniqueRepository("chunked");
        var data = new byte[300_000];
        Random.Shared.NextBytes(data);
        var blob = new TestBlob(data, "application/octet-stream");

        using var started = await v2.SendAsync(HttpMethod.Post, $"/v2/{repo}/blobs/uploads/");
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var location = V2Client.Header(started, "Location");
        var uuid = V2Client.Header(started, "Docker-Upload-UUID");
        Assert.EndsWith(uuid, location);
        Assert.Equal("0-0", V2Client.Header(started, "Range"));

        using (var first = await Patch(location, data[..100_000], "0-99999"))
        {
            Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
            Assert.Equal("0-99999", V2Client.Header(first, "Range"));
            Assert.Equal(uuid, V2Client.Header(first, "Docker-Upload-UUID"));
        }
        // A chunk that does not start where the upload ends: 416 and the Range to resume from.
        using (var gap = await Patch(location, data[150_000..200_000], "150000-199999"))
        {
            Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, gap.StatusCode);
            Assert.Equal("0-99999", V2Client.Header(gap, "Range"));
            Assert.Equal("BLOB_UPLOAD_INVALID", await V2Client.ErrorCodeAsync(gap));
        }
        using (var status = await v2.SendAsync(HttpMethod.Get, location))
        {
            Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
            Assert.Equal("0-99999", V2Client.Header(status, "Range"));
            Assert.Equal(location, V2Client.Header(status, "Location"));
        }
        using (var second = await Patch(location, data[100_000..250_000], "100000-249999"))
            Assert.Equal("0-249999", V2Client.Header(second, "Range"));
        // Not finished yet: not visible.
        using (var early = await v2.SendAsync(HttpMethod.Head, $"/v2/{repo}/blobs/{blob.Digest}"))
            Assert.Equal(HttpStatusCode.NotFound, early.StatusCode);
        using (var done = await v2.SendAsync(HttpMethod.Put, $"{location}?digest={blob.Digest}", data[250_000..],
            configure: r => r.Content!.Headers.TryAddWithoutValidation("Content-Range", "250000-299999")))
        {
            Assert.Equal(HttpStatusCode.Created, done.StatusCode);
            Assert.Equal(blob.Digest, V2Client.Header(done, "Docker-Content-Digest"));
        }
        using (var get = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/blobs/{blob.Digest}"))
            Assert.Equal(data, await get.Content.ReadAsByteArrayAsync(Ct));
        // The session is over.
        using (var gone = await v2.SendAsync(HttpMethod.Get, location))
        {
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
            Assert.Equal("BLOB_UPLOAD_UNKNOWN", await V2Client.ErrorCodeAsync(gone));
        }
    }

    [Fact]
    public async Task Streamed_patch_without_content_range_then_wrong_digest_is_digest_invalid_and_nothing_is_stored()
    {
        var repo = V2Client.UniqueRepository("wrongdigest");
        using var started = await v2.SendAsync(HttpMethod.Post, $"/v2/{repo}/blobs/uploads/");
        var location = V2Client.Header(started, "Location");
        using (var patch = await v2.SendAsync(HttpMethod.Patch, location, Encoding.ASCII.GetBytes("payload")))
            Assert.Equal("0-6", V2Client.Header(patch, "Range"));
        var claimed = new TestBlob(Encoding.ASCII.GetBytes("something else"), "application/octet-stream");
        using (var put = await v2.SendAsync(HttpMethod.Put, $"{location}?digest={claimed.Digest}"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
            Assert.Equal("DIGEST_INVALID", await V2Client.ErrorCodeAsync(put));
        }
        var actual = new TestBlob(Encoding.ASCII.GetBytes("payload"), "application/octet-stream");
        foreach (var digest in new[] { claimed.Digest, actual.Digest })
        {
            using var head = await v2.SendAsync(HttpMethod.Head, $"/v2/{repo}/blobs/{digest}");
            Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
        }
        Assert.False(File.Exists(BlobPath(actual)));
    }

    [Fact]
    public async Task Cancelled_upload_is_unknown_afterwards()
    {
        var repo = V2Client.UniqueRepository("cancel");
        using var started = await v2.SendAsync(HttpMethod.Post, $"/v2/{repo}/blobs/uploads/");
        var location = V2Client.Header(started, "Location");
        using (var patch = await Patch(location, [1, 2, 3], "0-2"))
            Assert.Equal(HttpStatusCode.Accepted, patch.StatusCode);
        using (var cancel = await v2.SendAsync(HttpMethod.Delete, location))
            Assert.Equal(HttpStatusCode.NoContent, cancel.StatusCode);
        using (var status = await v2.SendAsync(HttpMethod.Get, location))
            Assert.Equal("BLOB_UPLOAD_UNKNOWN", await V2Client.ErrorCodeAsync(status));
        using (var again = await v2.SendAsync(HttpMethod.Delete, location))
            Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        // An upload id is the server's own; a session of another repository is unknown here.
        using var other = await v2.SendAsync(HttpMethod.Post, $"/v2/{repo}-b/blobs/uploads/");
        var id = V2Client.Header(other, "Docker-Upload-UUID");
        using (var cross = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/blobs/uploads/{id}"))
            Assert.Equal(HttpStatusCode.NotFound, cross.StatusCode);
    }

    [Fact]
    public async Task Cross_repository_mount_links_without_upload_and_falls_back_to_an_upload_session()
    {
        var source = V2Client.UniqueRepository("source");
        var target = V2Client.UniqueRepository("target");
        var blob = new TestBlob(Encoding.ASCII.GetBytes("shared layer " + Guid.NewGuid()), "application/octet-stream");
        await v2.PushBlobAsync(source, blob);
        using (var mounted = await v2.SendAsync(HttpMethod.Post, $"/v2/{target}/blobs/uploads/?mount={blob.Digest}&from={source}"))
        {
            Assert.Equal(HttpStatusCode.Created, mounted.StatusCode);
            Assert.Equal($"/v2/{target}/blobs/{blob.Digest}", V2Client.Header(mounted, "Location"));
            Assert.Equal(blob.Digest, V2Client.Header(mounted, "Docker-Content-Digest"));
        }
        using (var get = await v2.SendAsync(HttpMethod.Get, $"/v2/{target}/blobs/{blob.Digest}"))
            Assert.Equal(blob.Bytes, await get.Content.ReadAsByteArrayAsync(Ct));
        // One file on disk for both repositories.
        Assert.True(File.Exists(BlobPath(blob)));

        var missing = new TestBlob(Encoding.ASCII.GetBytes("not there " + Guid.NewGuid()), "application/octet-stream");
        using var fallback = await v2.SendAsync(HttpMethod.Post, $"/v2/{target}/blobs/uploads/?mount={missing.Digest}&from={source}");
        Assert.Equal(HttpStatusCode.Accepted, fallback.StatusCode);
        Assert.Contains("/blobs/uploads/", V2Client.Header(fallback, "Location"));

        // Blob delete unlinks it from one repository only.
        using (var delete = await v2.SendAsync(HttpMethod.Delete, $"/v2/{target}/blobs/{blob.Digest}"))
            Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        using (var gone = await v2.SendAsync(HttpMethod.Head, $"/v2/{target}/blobs/{blob.Digest}"))
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        using (var still = await v2.SendAsync(HttpMethod.Head, $"/v2/{source}/blobs/{blob.Digest}"))
            Assert.Equal(HttpStatusCode.OK, still.StatusCode);
    }

    [Fact]
    public async Task Manifest_put_get_head_delete_by_tag_and_digest_with_events()
    {
        var repo = V2Client.UniqueRepository("app");
        var image = OciTestImage.Create("manifest test " + Guid.NewGuid());
        var bus = fixture.Services.GetRequiredService<InProcessEventBus>();
        var events = new System.Collections.Concurrent.ConcurrentQueue<CloudEvent>();
        using var pushed = bus.Subscribe("buildgrid.image.pushed", (e, _) => { events.Enqueue(e); return Task.CompletedTask; });
        using var deletedTags = bus.Subscribe("buildgrid.tag.deleted", (e, _) => { events.Enqueue(e); return Task.CompletedTask; });

        // Blobs first: a manifest naming a blob the repository lacks is refused.
        using (var early = await v2.PutManifestAsync(repo, "v1", image.Manifest))
        {
            Assert.Equal(HttpStatusCode.BadRequest, early.StatusCode);
            Assert.Equal("MANIFEST_BLOB_UNKNOWN", await V2Client.ErrorCodeAsync(early));
        }
        foreach (var blob in image.Blobs)
            await v2.PushBlobAsync(repo, blob);
        using (var put = await v2.PutManifestAsync(repo, "v1", image.Manifest))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
            Assert.Equal(image.Manifest.Digest, V2Client.Header(put, "Docker-Content-Digest"));
            Assert.Equal($"/v2/{repo}/manifests/{image.Manifest.Digest}", V2Client.Header(put, "Location"));
        }
        using (var put2 = await v2.PutManifestAsync(repo, "v2", image.Manifest))
            Assert.Equal(HttpStatusCode.Created, put2.StatusCode);

        foreach (var reference in new[] { "v1", image.Manifest.Digest })
        {
            using var get = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/manifests/{reference}",
                configure: r => r.Headers.Accept.ParseAdd(OciTestImage.OciManifest));
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Equal(OciTestImage.OciManifest, get.Content.Headers.ContentType!.MediaType);
            Assert.Equal(image.Manifest.Digest, V2Client.Header(get, "Docker-Content-Digest"));
            Assert.Equal(image.Manifest.Bytes, await get.Content.ReadAsByteArrayAsync(Ct));
        }
        using (var head = await v2.SendAsync(HttpMethod.Head, $"/v2/{repo}/manifests/v1"))
        {
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Equal(image.Manifest.Size, head.Content.Headers.ContentLength);
        }
        // Content negotiation: a client that accepts only Docker types does not get an OCI manifest.
        using (var docker = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/manifests/v1",
            configure: r => r.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json")))
            Assert.Equal("MANIFEST_UNKNOWN", await V2Client.ErrorCodeAsync(docker));

        // Tag delete keeps the manifest; digest delete removes it and its remaining tags.
        using (var deleteTag = await v2.SendAsync(HttpMethod.Delete, $"/v2/{repo}/manifests/v1"))
            Assert.Equal(HttpStatusCode.Accepted, deleteTag.StatusCode);
        using (var byTag = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/manifests/v1"))
            Assert.Equal("MANIFEST_UNKNOWN", await V2Client.ErrorCodeAsync(byTag));
        using (var byDigest = await v2.SendAsync(HttpMethod.Head, $"/v2/{repo}/manifests/{image.Manifest.Digest}"))
            Assert.Equal(HttpStatusCode.OK, byDigest.StatusCode);
        using (var deleteDigest = await v2.SendAsync(HttpMethod.Delete, $"/v2/{repo}/manifests/{image.Manifest.Digest}"))
            Assert.Equal(HttpStatusCode.Accepted, deleteDigest.StatusCode);
        using (var tags = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/tags/list"))
            Assert.Equal($$"""{"name":"{{repo}}","tags":[]}""", await tags.Content.ReadAsStringAsync(Ct));
        using (var again = await v2.SendAsync(HttpMethod.Delete, $"/v2/{repo}/manifests/{image.Manifest.Digest}"))
            Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);

        // image.pushed for v1 and v2, tag.deleted for v1 (tag delete) and v2 (manifest delete), from the outbox.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (events.Count(e => e.Data.Contains(repo)) < 4 && DateTime.UtcNow < deadline)
            await Task.Delay(100, Ct);
        var mine = events.Where(e => e.Data.Contains(repo)).Select(e => (e.Topic, Data: JsonDocument.Parse(e.Data).RootElement)).ToList();
        Assert.Equal(2, mine.Count(e => e.Topic == "buildgrid.image.pushed"));
        var pushedV1 = mine.Single(e => e.Topic == "buildgrid.image.pushed" && e.Data.GetProperty("tag").GetString() == "v1").Data;
        Assert.Equal(image.Manifest.Digest, pushedV1.GetProperty("digest").GetString());
        Assert.Equal(OciTestImage.OciManifest, pushedV1.GetProperty("mediaType").GetString());
        Assert.Equal(image.Manifest.Size + image.Layer.Size + image.Config.Size, long.Parse(pushedV1.GetProperty("size").GetString()!, CultureInfo.InvariantCulture));
        Assert.Equal(["v1", "v2"], mine.Where(e => e.Topic == "buildgrid.tag.deleted")
            .Select(e => e.Data.GetProperty("tag").GetString()!).Order().ToArray());
    }

    [Fact]
    public async Task If_none_match_naming_the_digest_answers_304_for_manifests_and_blobs()
    {
        var repo = V2Client.UniqueRepository("etag");
        var image = OciTestImage.Create("etag " + Guid.NewGuid());
        await v2.PushImageAsync(repo, "v1", image);
        foreach (var (path, digest) in new[] { ($"/v2/{repo}/manifests/v1", image.Manifest.Digest), ($"/v2/{repo}/blobs/{image.Layer.Digest}", image.Layer.Digest) })
        {
            // Quoted as the ETag is, or bare as distribution also takes it.
            foreach (var (method, tag) in new[] { (HttpMethod.Get, $"\"{digest}\""), (HttpMethod.Head, digest) })
            {
                using var cached = await v2.SendAsync(method, path, configure: r => r.Headers.TryAddWithoutValidation("If-None-Match", tag));
                Assert.Equal(HttpStatusCode.NotModified, cached.StatusCode);
                Assert.Equal($"\"{digest}\"", V2Client.Header(cached, "ETag"));
                Assert.Empty(await cached.Content.ReadAsByteArrayAsync(Ct));
            }
            using var changed = await v2.SendAsync(HttpMethod.Get, path,
                configure: r => r.Headers.TryAddWithoutValidation("If-None-Match", $"\"sha256:{new string('0', 64)}\""));
            Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
            Assert.Equal($"\"{digest}\"", V2Client.Header(changed, "ETag"));
        }
    }

    [Fact]
    public async Task Put_by_digest_with_tag_parameters_tags_in_one_request()
    {
        var repo = V2Client.UniqueRepository("tagparams");
        var image = OciTestImage.Create("tag params " + Guid.NewGuid());
        foreach (var blob in image.Blobs)
            await v2.PushBlobAsync(repo, blob);
        using (var put = await v2.SendAsync(HttpMethod.Put, $"/v2/{repo}/manifests/{image.Manifest.Digest}?tag=1.2.3&tag=1.2&tag=latest",
            image.Manifest.Bytes, image.Manifest.MediaType))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
            Assert.Equal(["1.2.3", "1.2", "latest"], put.Headers.GetValues("OCI-Tag").SelectMany(v => v.Split(',')).Select(v => v.Trim()).ToArray());
        }
        using (var tags = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/tags/list"))
            Assert.Equal($$"""{"name":"{{repo}}","tags":["1.2","1.2.3","latest"]}""", await tags.Content.ReadAsStringAsync(Ct));
        using var bad = await v2.SendAsync(HttpMethod.Put, $"/v2/{repo}/manifests/{image.Manifest.Digest}?tag=ok&tag=-bad",
            image.Manifest.Bytes, image.Manifest.MediaType);
        Assert.Equal("TAG_INVALID", await V2Client.ErrorCodeAsync(bad));
        using (var tags = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/tags/list"))
            Assert.DoesNotContain("\"ok\"", await tags.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Docker_schema2_manifest_round_trips_with_its_media_type()
    {
        var repo = V2Client.UniqueRepository("docker");
        var image = OciTestImage.Create("docker " + Guid.NewGuid(), manifestMediaType: OciTestImage.DockerManifest);
        await v2.PushImageAsync(repo, "latest", image);
        using (var get = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/manifests/latest",
            configure: r => r.Headers.Accept.ParseAdd(OciTestImage.DockerManifest)))
        {
            Assert.Equal(OciTestImage.DockerManifest, get.Content.Headers.ContentType!.MediaType);
            Assert.Equal(image.Manifest.Digest, V2Client.Header(get, "Docker-Content-Digest"));
        }
        // As distribution does, a schema 2 manifest is served to a client that lists only OCI types (it has no other form).
        using var ociOnly = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/manifests/latest",
            configure: r => { r.Headers.Accept.ParseAdd(OciTestImage.OciManifest); r.Headers.Accept.ParseAdd(OciTestImage.OciIndex); });
        Assert.Equal(HttpStatusCode.OK, ociOnly.StatusCode);
        Assert.Equal(OciTestImage.DockerManifest, ociOnly.Content.Headers.ContentType!.MediaType);
        Assert.Equal(image.Manifest.Bytes, await ociOnly.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task Docker_manifest_list_by_tag_serves_clients_without_list_support_its_linux_amd64_image()
    {
        var repo = V2Client.UniqueRepository("dockerlist");
        var amd = OciTestImage.Create("list amd " + Guid.NewGuid(), "amd64", OciTestImage.DockerManifest);
        var arm = OciTestImage.Create("list arm " + Guid.NewGuid(), "arm64", OciTestImage.DockerManifest);
        await v2.PushImageAsync(repo, "amd", amd);
        await v2.PushImageAsync(repo, "arm", arm);
        var list = OciTestImage.ManifestList((arm, "arm64"), (amd, "amd64"));
        using (var put = await v2.PutManifestAsync(repo, "multi", list))
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        void Accept(HttpRequestMessage r, params string[] types)
        {
            foreach (var type in types)
                r.Headers.Accept.ParseAdd(type);
        }

        using (var asList = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/manifests/multi",
            configure: r => Accept(r, OciTestImage.DockerManifestList, OciTestImage.DockerManifest)))
        {
            Assert.Equal(OciTestImage.DockerManifestList, asList.Content.Headers.ContentType!.MediaType);
            Assert.Equal(list.Bytes, await asList.Content.ReadAsByteArrayAsync(Ct));
        }
        // A client that takes only image manifests gets the linux/amd64 entry, under that image's digest.
        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Head })
        {
            using var image = await v2.SendAsync(method, $"/v2/{repo}/manifests/multi", configure: r => Accept(r, OciTestImage.DockerManifest));
            Assert.Equal(HttpStatusCode.OK, image.StatusCode);
            Assert.Equal(OciTestImage.DockerManifest, image.Content.Headers.ContentType!.MediaType);
            Assert.Equal(amd.Manifest.Digest, V2Client.Header(image, "Docker-Content-Digest"));
            Assert.Equal(amd.Manifest.Size, image.Content.Headers.ContentLength);
            if (method == HttpMethod.Get)
                Assert.Equal(amd.Manifest.Bytes, await image.Content.ReadAsByteArrayAsync(Ct));
        }
        // A client that takes neither lists nor schema 2 manifests gets nothing (distribution refuses it too).
        using (var neither = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/manifests/multi", configure: r => Accept(r, OciTestImage.OciIndex)))
            Assert.Equal((HttpStatusCode.NotFound, "MANIFEST_UNKNOWN"), (neither.StatusCode, await V2Client.ErrorCodeAsync(neither)));
        // By digest the list is what the digest names, whatever the client accepts.
        using (var byDigest = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/manifests/{list.Digest}", configure: r => Accept(r, OciTestImage.DockerManifest)))
        {
            Assert.Equal(OciTestImage.DockerManifestList, byDigest.Content.Headers.ContentType!.MediaType);
            Assert.Equal(list.Digest, V2Client.Header(byDigest, "Docker-Content-Digest"));
        }
        // A list without a linux/amd64 image has nothing to offer such a client; nor has an OCI index (distribution does the same).
        var armOnly = OciTestImage.ManifestList((arm, "arm64"));
        using (var put = await v2.PutManifestAsync(repo, "arm-only", armOnly))
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        using (var none = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/manifests/arm-only", configure: r => Accept(r, OciTestImage.DockerManifest)))
            Assert.Equal((HttpStatusCode.NotFound, "MANIFEST_UNKNOWN"), (none.StatusCode, await V2Client.ErrorCodeAsync(none)));
        var oci = OciTestImage.Create("list oci " + Guid.NewGuid());
        await v2.PushImageAsync(repo, "oci", oci);
        using (var put = await v2.PutManifestAsync(repo, "oci-index", OciTestImage.Index((oci, "amd64"))))
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        using (var index = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/manifests/oci-index", configure: r => Accept(r, OciTestImage.OciManifest)))
            Assert.Equal((HttpStatusCode.NotFound, "MANIFEST_UNKNOWN"), (index.StatusCode, await V2Client.ErrorCodeAsync(index)));
    }

    [Fact]
    public async Task Index_needs_its_manifests_and_referrers_list_subjects()
    {
        var repo = V2Client.UniqueRepository("multi");
        var amd = OciTestImage.Create("amd " + Guid.NewGuid(), "amd64");
        var arm = OciTestImage.Create("arm " + Guid.NewGuid(), "arm64");
        var index = OciTestImage.Index((amd, "amd64"), (arm, "arm64"));
        await v2.PushImageAsync(repo, "amd", amd);
        using (var early = await v2.PutManifestAsync(repo, "multi", index))
            Assert.Equal("MANIFEST_BLOB_UNKNOWN", await V2Client.ErrorCodeAsync(early));
        await v2.PushImageAsync(repo, "arm", arm);
        using (var put = await v2.PutManifestAsync(repo, "multi", index))
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);

        // An artifact that refers to the amd64 image.
        var empty = new TestBlob("{}"u8.ToArray(), "application/vnd.oci.empty.v1+json");
        var sbom = new TestBlob(Encoding.UTF8.GetBytes("sbom " + Guid.NewGuid()), "application/spdx+json");
        await v2.PushBlobAsync(repo, empty);
        await v2.PushBlobAsync(repo, sbom);
        var artifact = new TestBlob(JsonSerializer.SerializeToUtf8Bytes(new
        {
            schemaVersion = 2, mediaType = OciTestImage.OciManifest, artifactType = "application/spdx+json",
            config = empty.Descriptor(), layers = new[] { sbom.Descriptor() }, subject = amd.Manifest.Descriptor(),
            annotations = new Dictionary<string, string> { ["org.example.kind"] = "sbom" },
        }), OciTestImage.OciManifest);
        using (var put = await v2.PutManifestAsync(repo, artifact.Digest, artifact))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
            Assert.Equal(amd.Manifest.Digest, V2Client.Header(put, "OCI-Subject"));
        }
        using (var referrers = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/referrers/{amd.Manifest.Digest}"))
        {
            Assert.Equal(OciTestImage.OciIndex, referrers.Content.Headers.ContentType!.MediaType);
            var root = JsonDocument.Parse(await referrers.Content.ReadAsStringAsync(Ct)).RootElement;
            var entry = Assert.Single(root.GetProperty("manifests").EnumerateArray());
            Assert.Equal(artifact.Digest, entry.GetProperty("digest").GetString());
            Assert.Equal("application/spdx+json", entry.GetProperty("artifactType").GetString());
            Assert.Equal("sbom", entry.GetProperty("annotations").GetProperty("org.example.kind").GetString());
        }
        using (var filtered = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/referrers/{amd.Manifest.Digest}?artifactType=application/other"))
        {
            Assert.Equal("artifactType", V2Client.Header(filtered, "OCI-Filters-Applied"));
            Assert.Empty(JsonDocument.Parse(await filtered.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("manifests").EnumerateArray());
        }
        using (var none = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/referrers/{arm.Manifest.Digest}"))
            Assert.Equal(HttpStatusCode.OK, none.StatusCode);
    }

    [Fact]
    public async Task Tags_list_and_catalog_page_with_n_last_and_link()
    {
        var repo = V2Client.UniqueRepository("paged");
        var image = OciTestImage.Create("paged " + Guid.NewGuid());
        await v2.PushImageAsync(repo, "b", image);
        foreach (var tag in new[] { "a", "C", "c", "a1" })
        {
            using var put = await v2.PutManifestAsync(repo, tag, image.Manifest);
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }
        using (var all = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/tags/list"))
            Assert.Equal($$"""{"name":"{{repo}}","tags":["C","a","a1","b","c"]}""", await all.Content.ReadAsStringAsync(Ct));
        using (var first = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/tags/list?n=2"))
        {
            Assert.Equal($$"""{"name":"{{repo}}","tags":["C","a"]}""", await first.Content.ReadAsStringAsync(Ct));
            Assert.Equal($"</v2/{repo}/tags/list?n=2&last=a>; rel=\"next\"", V2Client.Header(first, "Link"));
        }
        using (var last = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/tags/list?n=2&last=b"))
        {
            Assert.Equal($$"""{"name":"{{repo}}","tags":["c"]}""", await last.Content.ReadAsStringAsync(Ct));
            Assert.Equal("", V2Client.Header(last, "Link"));
        }
        using (var bad = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/tags/list?n=-1"))
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        // The catalog: two repositories under one unique namespace, read one per page from just before them.
        var ns = repo[..repo.IndexOf('/')];
        await v2.PushBlobAsync($"{ns}/zz", image.Layer);
        using var catalog = await v2.SendAsync(HttpMethod.Get, $"/v2/_catalog?n=1&last={ns}");
        var names = JsonDocument.Parse(await catalog.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("repositories");
        Assert.Equal(repo, Assert.Single(names.EnumerateArray()).GetString());
        Assert.Equal($"</v2/_catalog?n=1&last={Uri.EscapeDataString(repo)}>; rel=\"next\"", V2Client.Header(catalog, "Link"));
        using var next = await v2.SendAsync(HttpMethod.Get, $"/v2/_catalog?n=1&last={Uri.EscapeDataString(repo)}");
        Assert.Equal($"{ns}/zz", JsonDocument.Parse(await next.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("repositories")[0].GetString());
    }

    [Theory]
    [InlineData("GET", "/v2/Upper/case/tags/list", 400, "NAME_INVALID")]
    [InlineData("GET", "/v2/a//b/tags/list", 400, "NAME_INVALID")]
    [InlineData("GET", "/v2/a/-b/tags/list", 400, "NAME_INVALID")]
    [InlineData("GET", "/v2/a%2Fb/tags/list", 400, "NAME_INVALID")]
    [InlineData("GET", "/v2/no-such/repository/tags/list", 404, "NAME_UNKNOWN")]
    [InlineData("GET", "/v2/no-such/repository/manifests/latest", 404, "NAME_UNKNOWN")]
    [InlineData("GET", "/v2/a/b/blobs/sha256:1234", 400, "DIGEST_INVALID")]
    [InlineData("GET", "/v2/a/b/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", 400, "DIGEST_INVALID")]
    // A reference that is neither a digest nor a possible tag names no manifest (the conformance suite's
    // ".INVALID_MANIFEST_NAME"); only a push to it is a bad tag.
    [InlineData("GET", "/v2/a/b/manifests/.INVALID_MANIFEST_NAME", 404, "MANIFEST_UNKNOWN")]
    [InlineData("HEAD", "/v2/a/b/manifests/bad%20tag", 404, null)]
    [InlineData("DELETE", "/v2/a/b/manifests/.INVALID_MANIFEST_NAME", 404, "MANIFEST_UNKNOWN")]
    [InlineData("PUT", "/v2/a/b/manifests/bad%20tag", 400, "TAG_INVALID")]
    [InlineData("POST", "/v2/a/b/blobs/uploads/?digest=sha256:XYZ", 400, "DIGEST_INVALID")]
    [InlineData("GET", "/v2/a/b/blobs/uploads/..%2F..%2Fregistry.db", 404, "BLOB_UPLOAD_UNKNOWN")]
    [InlineData("PATCH", "/v2/a/b/blobs/uploads/0123456789abcdef0123456789abcdef", 404, "BLOB_UPLOAD_UNKNOWN")]
    [InlineData("POST", "/v2/a/b/manifests/latest", 405, "UNSUPPORTED")]
    [InlineData("GET", "/v2/a/b/whatever", 404, "NAME_UNKNOWN")]
    public async Task Bad_requests_get_the_spec_error_body(string method, string path, int status, string? code)
    {
        using var response = await v2.SendAsync(new HttpMethod(method), path);
        Assert.Equal(status, (int)response.StatusCode);
        if (code is not null)   // a HEAD answer has no body
            Assert.Equal(code, await V2Client.ErrorCodeAsync(response));
        Assert.Equal("registry/2.0", V2Client.Header(response, "Docker-Distribution-API-Version"));
    }

    [Fact]
    public async Task Bad_manifests_are_refused_with_the_right_code()
    {
        var repo = V2Client.UniqueRepository("badmanifest");
        var image = OciTestImage.Create("bad " + Guid.NewGuid());
        await v2.PushImageAsync(repo, "ok", image);
        async Task<(int, string)> Put(string reference, byte[] body, string type)
        {
            using var response = await v2.SendAsync(HttpMethod.Put, $"/v2/{repo}/manifests/{reference}", body, type);
            return ((int)response.StatusCode, await V2Client.ErrorCodeAsync(response));
        }
        Assert.Equal((400, "MANIFEST_INVALID"), await Put("x", "not json"u8.ToArray(), OciTestImage.OciManifest));
        Assert.Equal((400, "MANIFEST_INVALID"), await Put("x", """{"schemaVersion":1}"""u8.ToArray(), OciTestImage.OciManifest));
        Assert.Equal((400, "MANIFEST_INVALID"), await Put("x", image.Manifest.Bytes, OciTestImage.DockerManifest));
        Assert.Equal((400, "MANIFEST_INVALID"), await Put("x", image.Manifest.Bytes, "application/vnd.docker.distribution.manifest.v1+prettyjws"));
        // A descriptor whose size is not the blob's.
        var lying = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(image.Manifest.Bytes)
            .Replace($"\"size\":{image.Layer.Size}", $"\"size\":{image.Layer.Size + 1}"));
        Assert.Equal((400, "MANIFEST_INVALID"), await Put("x", lying, OciTestImage.OciManifest));
        // By digest, the digest must be the body's.
        var otherDigest = "sha256:" + new string('0', 64);
        Assert.Equal((400, "DIGEST_INVALID"), await Put(otherDigest, image.Manifest.Bytes, OciTestImage.OciManifest));
        // Over Registry:MaxManifestSize (4 MiB).
        Assert.Equal((413, "SIZE_INVALID"), await Put("x", new byte[5 * 1024 * 1024], OciTestImage.OciManifest));
        using var tags = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/tags/list");
        Assert.Equal($$"""{"name":"{{repo}}","tags":["ok"]}""", await tags.Content.ReadAsStringAsync(Ct));
    }

    [Theory]
    [InlineData("/v2/../registry/registry.db")]
    [InlineData("/v2/a/b/blobs/../../../../etc/passwd")]
    [InlineData("/v2/%2e%2e/%2e%2e/registry.db")]
    public async Task Path_traversal_never_reaches_a_file(string rawPath)
    {
        // HttpClient would normalize the dots away; a socket sends the path as written.
        using var client = new TcpClient();
        await client.ConnectAsync(fixture.RestUrl.Host, fixture.RestUrl.Port, Ct);
        await using var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {rawPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"), Ct);
        using var reader = new StreamReader(stream);
        var answer = await reader.ReadToEndAsync(Ct);
        var status = int.Parse(answer.Split(' ', 3)[1], CultureInfo.InvariantCulture);
        Assert.True(status is 400 or 404, answer);
        Assert.DoesNotContain("root:", answer);
        Assert.DoesNotContain("SQLite format", answer);
    }

    Task<HttpResponseMessage> Patch(string location, byte[] chunk, string contentRange) =>
        v2.SendAsync(HttpMethod.Patch, location, chunk, configure: r => r.Content!.Headers.TryAddWithoutValidation("Content-Range", contentRange));

    string BlobPath(TestBlob blob) => Path.Combine(fixture.DataDir, "registry", "blobs", "sha256", blob.Hex[..2], blob.Hex);
}
