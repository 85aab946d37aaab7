using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BuildGrid.Registry.V1;
using BuildGrid.Tests.Infrastructure;
using BuildGrid.Tests.Registry;
using Google.Protobuf.WellKnownTypes;
using Grpc.Net.Client;

namespace BuildGrid.Tests.Operations;

/// <summary>
/// Every dialect on a full disk: the data directory is a real 64 MiB tmpfs (CI runs as root, so mount works).
/// A create that meets SQLITE_FULL, or that the free-space reserve (BUILDGRID_MIN_FREE_MB) refuses first, answers
/// "insufficient storage" in the dialect's own error format — 507 where the dialect speaks HTTP statuses, 10100 with a
/// message in the image market — not a generic 500/10100/internal_error; /readyz names the disk. Deletes of tags and
/// repositories work on a completely full disk (the delete reserve), and a garbage collection gives the room back.
/// </summary>
public sealed class FullDiskDialectTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>One create per dialect: dialect, path, body (NAME is replaced by a unique name).</summary>
    static readonly (string Dialect, string Path, string? Body)[] Creates =
    [
        ("imagemarket", "/api/project/new", "{\"projectName\":\"NAME\",\"operator\":\"root\"}"),
        ("zadig", "/openapi/build?projectKey=yaml", Zadig.ZadigBuildsTests.SeedCreateBody.Replace("\"api-test\"", "\"NAME\"")),
        ("svacer", "/api/public/admin/server/containers", "{\"action\":\"add\",\"type\":\"project\",\"name\":\"NAME\"}"),
        ("quay", "/api/v1/repository", "{\"repository\":\"app\",\"namespace\":\"NAME\",\"visibility\":\"public\",\"description\":\"DESCRIPTION\"}"),
        ("rest", "/buildgrid/v1/code-hosts", "{\"name\":\"NAME\",\"source\":\"gitlab\",\"url\":\"https://git.example\"}"),
        ("v2", "/v2/NAME/app/blobs/uploads/", null),
    ];

    [Fact]
    public async Task Creates_that_meet_a_full_disk_answer_insufficient_storage_in_every_dialect()
    {
        await using var disk = await Tmpfs.MountAsync("full-dialects");
        // No reserve in the way: every create goes as far as SQLite, which answers SQLITE_FULL.
        var (app, rest, _) = await StandaloneFixture.StartAsync(disk.Path, null, "--BUILDGRID_MIN_FREE_MB=0", "--Registry:MinFreeBytes=0");
        try
        {
            using var http = new HttpClient { BaseAddress = rest, Timeout = TimeSpan.FromMinutes(2) };
            disk.Fill(0);
            foreach (var (dialect, path, body) in Creates)
            {
                var (status, json, text) = await CreateAsync(http, path, body);
                AssertInsufficientStorage(dialect, status, json, text, "full");
            }
            // Room again: the same creates go through.
            disk.Unfill();
            foreach (var (dialect, path, body) in Creates)
            {
                var (status, json, text) = await CreateAsync(http, path, body);
                Assert.True(status is HttpStatusCode.OK or HttpStatusCode.Created or HttpStatusCode.Accepted, $"{dialect}: {(int)status} {text}");
                if (dialect == "imagemarket")
                    Assert.Equal(10000, json.GetProperty("code").GetInt32());
            }
        }
        finally
        {
            await app.StopAsync(Ct);
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_free_space_reserve_refuses_creates_before_the_disk_is_full_and_readyz_reports_the_disk()
    {
        await using var disk = await Tmpfs.MountAsync("reserve-dialects");
        var (app, rest, _) = await StandaloneFixture.StartAsync(disk.Path, null,
            "--BUILDGRID_MIN_FREE_MB=24", "--BUILDGRID_DISK_RESERVE_MB=24", "--Registry:MinFreeBytes=25165824");
        try
        {
            using var http = new HttpClient { BaseAddress = rest, Timeout = TimeSpan.FromMinutes(2) };
            using (var ready = await http.GetAsync("/readyz", Ct))
                Assert.True(ready.StatusCode == HttpStatusCode.OK, await ready.Content.ReadAsStringAsync(Ct));

            // 16 MiB free: far from full, but below the 24 MiB reserve.
            disk.Fill(16L << 20);
            foreach (var (dialect, path, body) in Creates)
            {
                var (status, json, text) = await CreateAsync(http, path, body);
                AssertInsufficientStorage(dialect, status, json, text, dialect == "v2" ? "Registry:MinFreeBytes" : "BUILDGRID_MIN_FREE_MB");
            }
            Assert.True(disk.FreeBytes > 12L << 20, "the refused creates wrote nothing of size");
            using (var ready = await http.GetAsync("/readyz", Ct))
            {
                var text = await ready.Content.ReadAsStringAsync(Ct);
                Assert.True(ready.StatusCode == HttpStatusCode.ServiceUnavailable, text);
                Assert.Contains("disk: Unhealthy", text);
                Assert.Contains("BUILDGRID_DISK_RESERVE_MB=24", text);
            }

            disk.Unfill();
            using (var ready = await http.GetAsync("/readyz", Ct))
                Assert.True(ready.StatusCode == HttpStatusCode.OK, await ready.Content.ReadAsStringAsync(Ct));
            var (created, _, createdText) = await CreateAsync(http, Creates[3].Path, Creates[3].Body);
            Assert.True(created == HttpStatusCode.Created, createdText);
        }
        finally
        {
            await app.StopAsync(Ct);
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task Tags_and_repositories_can_be_deleted_on_a_completely_full_disk_and_the_room_comes_back()
    {
        await using var disk = await Tmpfs.MountAsync("full-deletes");
        var (app, rest, grpc) = await StandaloneFixture.StartAsync(disk.Path, null, "--BUILDGRID_MIN_FREE_MB=0", "--Registry:MinFreeBytes=0");
        try
        {
            using var http = new HttpClient { BaseAddress = rest, Timeout = TimeSpan.FromMinutes(2) };
            var v2 = new V2Client(http);
            Assert.True(File.Exists(Path.Combine(disk.Path, Core.Storage.DiskSpace.ReserveFileName)), "the delete reserve is made at start");
            var ns = ImageMarketApi.UniqueName("fd").ToLowerInvariant();
            OciTestImage Image(string name) => OciTestImage.Create(Convert.ToBase64String(RandomNumberGenerator.GetBytes(1 << 20)) + name);
            var images = new Dictionary<string, OciTestImage>
            {
                ["v2tag"] = Image("v2tag"), ["kept"] = Image("kept"), ["quayrepo"] = Image("quayrepo"),
                ["harbortag"] = Image("harbortag"), ["harborrepo"] = Image("harborrepo"), ["intact"] = Image("intact"),
            };
            await v2.PushImageAsync($"{ns}/v2", "gone", images["v2tag"]);
            await v2.PushImageAsync($"{ns}/v2", "kept", images["kept"]);
            await v2.PushImageAsync($"{ns}/quay", "1", images["quayrepo"]);
            await v2.PushImageAsync($"{ns}/harbor", "1", images["harbortag"]);
            await v2.PushImageAsync($"{ns}/harborv2", "1", images["harborrepo"]);
            await v2.PushImageAsync($"{ns}/intact", "1", images["intact"]);

            disk.Fill(0);
            var full = disk.FreeBytes;
            Assert.True(full < 64 * 1024, $"{full} bytes still free");

            // /v2/: the tag's manifest by digest (a tag alone cannot be deleted through /v2/).
            using (var deleted = await v2.SendAsync(HttpMethod.Delete, $"/v2/{ns}/v2/manifests/{images["v2tag"].Manifest.Digest}"))
                Assert.True(deleted.StatusCode == HttpStatusCode.Accepted, $"/v2/ delete: {(int)deleted.StatusCode} {await deleted.Content.ReadAsStringAsync(Ct)}");
            // Quay: a repository.
            using (var deleted = await http.DeleteAsync($"/api/v1/repository/{ns}/quay", Ct))
                Assert.True(deleted.StatusCode == HttpStatusCode.NoContent, $"quay delete: {(int)deleted.StatusCode} {await deleted.Content.ReadAsStringAsync(Ct)}");
            // Harbor: a tag (its v1 API), a repository (v2.0).
            using (var deleted = await http.SendAsync(new HttpRequestMessage(HttpMethod.Delete, "/repositories")
                   {
                       Content = new StringContent($"{{\"repoName\":\"1\",\"projectName\":\"{ns}/harbor\"}}", Encoding.UTF8, "application/json"),
                   }, Ct))
                Assert.True(deleted.StatusCode == HttpStatusCode.OK, $"harbor tag delete: {(int)deleted.StatusCode} {await deleted.Content.ReadAsStringAsync(Ct)}");
            using (var deleted = await http.DeleteAsync($"/api/v2.0/projects/{ns}/repositories/harborv2", Ct))
                Assert.True(deleted.StatusCode == HttpStatusCode.OK, $"harbor repository delete: {(int)deleted.StatusCode} {await deleted.Content.ReadAsStringAsync(Ct)}");

            // The room comes back: the collection removes the four images' blobs.
            using var channel = GrpcChannel.ForAddress(grpc);
            var report = await new BuildGrid.Registry.V1.Registry.RegistryClient(channel).RunGarbageCollectionAsync(
                new RunGarbageCollectionRequest { GracePeriod = Duration.FromTimeSpan(TimeSpan.Zero) }, cancellationToken: Ct);
            Assert.True(report.BytesFreed > 2L << 20, $"freed {report.BytesFreed} bytes");
            Assert.True(disk.FreeBytes > full + (2L << 20), $"{disk.FreeBytes} bytes free after the collection, {full} before");

            // What was not deleted is intact, byte for byte.
            foreach (var (repository, tag, image) in new[] { ($"{ns}/v2", "kept", images["kept"]), ($"{ns}/intact", "1", images["intact"]) })
            {
                using var manifest = await v2.SendAsync(HttpMethod.Get, $"/v2/{repository}/manifests/{tag}",
                    configure: r => r.Headers.Accept.ParseAdd(OciTestImage.OciManifest));
                Assert.Equal(HttpStatusCode.OK, manifest.StatusCode);
                Assert.Equal(image.Manifest.Bytes, await manifest.Content.ReadAsByteArrayAsync(Ct));
                foreach (var blob in image.Blobs)
                {
                    using var got = await v2.SendAsync(HttpMethod.Get, $"/v2/{repository}/blobs/{blob.Digest}");
                    Assert.Equal(HttpStatusCode.OK, got.StatusCode);
                    Assert.Equal(blob.Bytes, await got.Content.ReadAsByteArrayAsync(Ct));
                }
            }
            foreach (var (repository, tag) in new[] { ($"{ns}/v2", "gone"), ($"{ns}/quay", "1"), ($"{ns}/harbor", "1"), ($"{ns}/harborv2", "1") })
            {
                using var gone = await v2.SendAsync(HttpMethod.Get, $"/v2/{repository}/manifests/{tag}");
                Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
            }
            // Once there is room, the next create makes the delete reserve again.
            disk.Unfill();
            var (created, _, createdText) = await CreateAsync(http, Creates[3].Path, Creates[3].Body);
            Assert.True(created == HttpStatusCode.Created, createdText);
            Assert.True(File.Exists(Path.Combine(disk.Path, Core.Storage.DiskSpace.ReserveFileName)), "the delete reserve is made again");
        }
        finally
        {
            await app.StopAsync(Ct);
            await app.DisposeAsync();
        }
    }

    static async Task<(HttpStatusCode Status, JsonElement Body, string Text)> CreateAsync(HttpClient http, string path, string? body)
    {
        var name = ImageMarketApi.UniqueName("fd").ToLowerInvariant();
        using var request = new HttpRequestMessage(HttpMethod.Post, path.Replace("NAME", name));
        if (body is not null)
            // A description of 60 KiB (the most a repository takes): more pages than a SQLite WAL keeps free from earlier writes.
            request.Content = new StringContent(body.Replace("NAME", name).Replace("DESCRIPTION", new string('d', 60 * 1024)),
                Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return (response.StatusCode, text.Length > 0 && text[0] is '{' ? JsonDocument.Parse(text).RootElement.Clone() : default, text);
    }

    static void AssertInsufficientStorage(string dialect, HttpStatusCode status, JsonElement body, string text, string says)
    {
        // The image market answers every domain outcome with HTTP 200 and its code; every other dialect with 507.
        var expected = dialect == "imagemarket" ? HttpStatusCode.OK : HttpStatusCode.InsufficientStorage;
        Assert.True(status == expected, $"{dialect}: expected {(int)expected}, got {(int)status} {text}");
        Assert.Contains("insufficient storage", text);
        Assert.Contains(says, text);
        switch (dialect)
        {
            case "imagemarket":
                Assert.Equal(10100, body.GetProperty("code").GetInt32());
                Assert.StartsWith("insufficient storage", body.GetProperty("errMsg").GetString());
                Assert.Equal(-1, body.GetProperty("content").GetInt32());
                break;
            case "zadig":
                Assert.Equal("error", body.GetProperty("type").GetString());
                Assert.Equal(507, body.GetProperty("code").GetInt32());
                Assert.Equal("INSUFFICIENT_STORAGE", body.GetProperty("extra").GetProperty("reason").GetString());
                break;
            case "svacer":
                Assert.Equal("INSUFFICIENT_STORAGE", body.GetProperty("reason").GetString());
                Assert.StartsWith("insufficient storage", body.GetProperty("error").GetString());
                break;
            case "quay":
                Assert.Equal("insufficient_storage", body.GetProperty("error_type").GetString());
                Assert.Equal(507, body.GetProperty("status").GetInt32());
                Assert.StartsWith("insufficient storage", body.GetProperty("error_message").GetString());
                break;
            case "v2":
                Assert.Equal("UNKNOWN", body.GetProperty("errors")[0].GetProperty("code").GetString());
                break;
            default:
                // /buildgrid/v1: google.rpc.Status as the transcoder writes it, RESOURCE_EXHAUSTED with its ErrorInfo.
                Assert.Equal(8, body.GetProperty("code").GetInt32());
                Assert.Equal("INSUFFICIENT_STORAGE", body.GetProperty("details")[0].GetProperty("reason").GetString());
                break;
        }
    }

    /// <summary>A 64 MiB tmpfs mounted for one test, with a filler file to take its free space; unmounted at the end.</summary>
    sealed class Tmpfs : IAsyncDisposable
    {
        public required string Path { get; init; }

        public long FreeBytes => new DriveInfo(Path).AvailableFreeSpace;

        public static async Task<Tmpfs> MountAsync(string prefix)
        {
            Assert.True(OperatingSystem.IsLinux() && Environment.UserName == "root", "mounting a tmpfs needs root: tests/run runs as root in CI");
            var dir = TestDirectories.Create(prefix);
            await Tools.RunOkAsync("mount", dir, "-t", "tmpfs", "-o", "size=64m", "tmpfs", dir);
            return new Tmpfs { Path = dir };
        }

        string FillerPath => System.IO.Path.Combine(Path, "filler");

        /// <summary>Writes a file until <paramref name="leave"/> bytes are free (0: until the disk refuses a single byte).</summary>
        public void Fill(long leave)
        {
            var chunk = new byte[1 << 16];
            using var file = new FileStream(FillerPath, FileMode.Append, FileAccess.Write, FileShare.None, 1);
            try
            {
                while (FreeBytes - chunk.Length > leave)
                {
                    file.Write(chunk);
                    file.Flush();
                }
                if (leave == 0)
                    while (true)
                    {
                        file.Write(chunk, 0, 512);
                        file.Flush();
                    }
            }
            catch (IOException) when (leave == 0)
            {
                // ENOSPC: full.
            }
        }

        public void Unfill() => File.Delete(FillerPath);

        public async ValueTask DisposeAsync()
        {
            await Tools.RunAsync("umount", "/", "-l", Path);
            TestDirectories.TryDelete(Path);
        }
    }
}
