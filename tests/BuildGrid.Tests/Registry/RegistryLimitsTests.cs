using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using BuildGrid.Tests.Infrastructure;
using Google.Protobuf.WellKnownTypes;
using Grpc.Net.Client;
using Microsoft.Extensions.Options;
using RegistryClient = BuildGrid.Registry.V1.Registry.RegistryClient;
using V1 = BuildGrid.Registry.V1;

namespace BuildGrid.Tests.Registry;

/// <summary>The Registry settings at work: upload expiry, blob and manifest size limits, and validation at start.</summary>
public sealed class RegistryLimitsTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Upload_sessions_expire_and_blobs_over_the_size_limit_are_refused()
    {
        var dataDir = TestDirectories.Create("registry-limits");
        var errors = new ErrorLog();
        var (app, rest, grpcUrl) = await StandaloneFixture.StartAsync(dataDir, errors,
            "--Registry:UploadExpiry=00:00:01", "--Registry:MaxBlobSize=1000", "--Registry:MaxManifestSize=1024", "--Registry:GcInterval=00:00:00");
        try
        {
            using var http = new HttpClient { BaseAddress = rest };
            var v2 = new V2Client(http);

            using (var tooBig = await v2.SendAsync(HttpMethod.Post, $"/v2/team/limits/blobs/uploads/?digest=sha256:{new string('a', 64)}", new byte[1001]))
            {
                Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooBig.StatusCode);
                Assert.Equal("SIZE_INVALID", await V2Client.ErrorCodeAsync(tooBig));
            }
            // A declared length over the limit is refused before the body is sent (this one never is).
            using (var tcp = new TcpClient())
            {
                await tcp.ConnectAsync(rest.Host, rest.Port, Ct);
                var stream = tcp.GetStream();
                await stream.WriteAsync(Encoding.ASCII.GetBytes(
                    $"POST /v2/team/limits/blobs/uploads/?digest=sha256:{new string('b', 64)} HTTP/1.1\r\nHost: {rest.Authority}\r\n" +
                    "Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n"), Ct);
                using var reader = new StreamReader(stream, Encoding.ASCII);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                Assert.StartsWith("HTTP/1.1 413", await reader.ReadLineAsync(timeout.Token));
            }
            var manifest = JsonSerializer.SerializeToUtf8Bytes(new
            {
                schemaVersion = 2, mediaType = OciTestImage.OciManifest,
                config = new { mediaType = "application/vnd.oci.image.config.v1+json", digest = $"sha256:{new string('c', 64)}", size = 2 },
                layers = Array.Empty<object>(), annotations = new { padding = new string('x', 1100) },
            });
            using (var tooLarge = await v2.SendAsync(HttpMethod.Put, "/v2/team/limits/manifests/big", manifest, OciTestImage.OciManifest))
            {
                Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
                Assert.Equal("SIZE_INVALID", await V2Client.ErrorCodeAsync(tooLarge));
            }
            using var session = await v2.SendAsync(HttpMethod.Post, "/v2/team/limits/blobs/uploads/");
            var location = V2Client.Header(session, "Location");
            using (var first = await v2.SendAsync(HttpMethod.Patch, location, new byte[600]))
                Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
            using (var over = await v2.SendAsync(HttpMethod.Patch, location, new byte[600]))
                Assert.Equal(HttpStatusCode.RequestEntityTooLarge, over.StatusCode);
            // Without a declared length (a chunked body), the limit holds on the bytes as they arrive.
            var chunked = new System.IO.Pipelines.Pipe();
            await chunked.Writer.WriteAsync(new byte[600], Ct);
            await chunked.Writer.CompleteAsync();
            using (var over = await v2.SendAsync(HttpMethod.Patch, location, configure: r => r.Content = new StreamContent(chunked.Reader.AsStream())))
                Assert.Equal(HttpStatusCode.RequestEntityTooLarge, over.StatusCode);
            using (var status = await v2.SendAsync(HttpMethod.Get, location))
                Assert.Equal("0-599", V2Client.Header(status, "Range"));

            await Task.Delay(TimeSpan.FromSeconds(1.5), Ct);
            using (var expired = await v2.SendAsync(HttpMethod.Get, location))
            {
                Assert.Equal(HttpStatusCode.NotFound, expired.StatusCode);
                Assert.Equal("BLOB_UPLOAD_UNKNOWN", await V2Client.ErrorCodeAsync(expired));
            }
            using var channel = GrpcChannel.ForAddress(grpcUrl);
            var report = await new RegistryClient(channel).RunGarbageCollectionAsync(
                new V1.RunGarbageCollectionRequest { GracePeriod = Duration.FromTimeSpan(TimeSpan.Zero) }, cancellationToken: Ct);
            Assert.Equal(1, report.UploadsExpired);
            Assert.Empty(Directory.EnumerateFiles(Path.Combine(dataDir, "registry", "uploads")));
            Assert.Empty(errors.Entries);
        }
        finally
        {
            await app.StopAsync(Ct);
            await app.DisposeAsync();
            TestDirectories.TryDelete(dataDir);
        }
    }

    [Fact]
    public async Task The_scheduled_collection_runs_on_its_own()
    {
        var dataDir = TestDirectories.Create("registry-schedule");
        var (app, rest, _) = await StandaloneFixture.StartAsync(dataDir, null, "--Registry:GcInterval=00:00:01", "--Registry:GcGracePeriod=00:00:00");
        try
        {
            using var http = new HttpClient { BaseAddress = rest };
            var v2 = new V2Client(http);
            var orphan = new TestBlob("nobody references me"u8.ToArray(), "application/octet-stream");
            await v2.PushBlobAsync("team/schedule", orphan);
            var file = Path.Combine(dataDir, "registry", "blobs", "sha256", orphan.Hex[..2], orphan.Hex);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (File.Exists(file) && DateTime.UtcNow < deadline)
                await Task.Delay(100, Ct);
            Assert.False(File.Exists(file), "the scheduled collection did not sweep an unreferenced blob");
            using var head = await v2.SendAsync(HttpMethod.Head, $"/v2/team/schedule/blobs/{orphan.Digest}");
            Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
        }
        finally
        {
            await app.StopAsync(Ct);
            await app.DisposeAsync();
            TestDirectories.TryDelete(dataDir);
        }
    }

    [Fact]
    public async Task A_client_that_stops_reading_a_large_blob_is_disconnected()
    {
        // BUILDGRID_MIN_RESPONSE_RATE (4 MiB/s here, to keep the test short): below Kestrel's own floor of 240 B/s a
        // pending 1 MiB write was given over an hour, so a stalled reader held its connection and buffers for good.
        var dataDir = TestDirectories.Create("registry-stall");
        var (app, rest, _) = await StandaloneFixture.StartAsync(dataDir, null, "--BUILDGRID_MIN_RESPONSE_RATE=4194304");
        try
        {
            using var http = new HttpClient { BaseAddress = rest };
            var blob = new TestBlob(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24 << 20), "application/octet-stream");
            await new V2Client(http).PushBlobAsync("team/stall", blob);

            using var tcp = new TcpClient { ReceiveBufferSize = 4096 };
            await tcp.ConnectAsync(rest.Host, rest.Port, Ct);
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /v2/team/stall/blobs/{blob.Digest} HTTP/1.1\r\nHost: {rest.Authority}\r\n\r\n"), Ct);
            var buffer = new byte[1 << 20];
            long received = await stream.ReadAsync(buffer.AsMemory(0, 1024), Ct);
            Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(buffer, 0, (int)received));
            // The client stops reading; then, well past the grace period, it drains as fast as it can. A connection the
            // server dropped ends far short of the blob; one it kept delivers all of it.
            await Task.Delay(TimeSpan.FromSeconds(30), Ct);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(60));
            try
            {
                int read;
                while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
                    received += read;
            }
            catch (IOException)
            {
                // reset by the server: dropped, as it should be
            }
            Assert.True(received < blob.Size, $"the stalled reader was not disconnected: it still got {received} bytes of a {blob.Size}-byte blob");

            // A reader that keeps up gets the whole blob.
            using var whole = await http.GetAsync($"/v2/team/stall/blobs/{blob.Digest}", Ct);
            Assert.Equal(blob.Size, (await whole.Content.ReadAsByteArrayAsync(Ct)).LongLength);
        }
        finally
        {
            await app.StopAsync(Ct);
            await app.DisposeAsync();
            TestDirectories.TryDelete(dataDir);
        }
    }

    [Fact]
    public async Task Invalid_settings_stop_the_start()
    {
        var dataDir = TestDirectories.Create("registry-settings");
        try
        {
            var failure = await Assert.ThrowsAsync<OptionsValidationException>(() =>
                StandaloneFixture.StartAsync(dataDir, null, "--Registry:MaxManifestSize=10"));
            Assert.Contains("MaxManifestSize", failure.Message);
            // A network without its prefix length is no CIDR.
            var network = await Assert.ThrowsAsync<OptionsValidationException>(() =>
                StandaloneFixture.StartAsync(dataDir, null, "--Registry:Notifications:AllowedNetworks:0=10.0.0.0"));
            Assert.Contains("AllowedNetworks", network.Message);
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }
}
