using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Registry;

/// <summary>
/// The same raw requests to BuildGrid and to <c>docker-registry</c> (the reference distribution registry, from apt) on
/// loopback: statuses, the headers clients act on, error codes and bodies must agree.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class DifferentialTests(StandaloneFixture fixture) : IAsyncDisposable
{
    readonly string work = TestDirectories.Create("registry-diff");
    Process? reference;
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    sealed record Answer(int Status, Dictionary<string, string> Headers, string Body, string? ErrorCode);

    [Fact]
    public async Task BuildGrid_answers_like_the_reference_registry()
    {
        ExternalTool.Require("docker-registry");
        using var theirs = new HttpClient { BaseAddress = await StartReferenceAsync() };
        var ours = fixture.Rest;
        var repo = V2Client.UniqueRepository("diff");
        var image = OciTestImage.Create("differential " + Guid.NewGuid());
        var missingDigest = "sha256:" + new string('e', 64);
        var differences = new List<string>();

        async Task<(Answer Ours, Answer Theirs)> Same(string step, HttpMethod method, Func<string?, string> path, byte[]? body = null, string? type = null,
            Action<HttpRequestMessage>? configure = null, string[]? headers = null, bool compareBody = false,
            string? oursLocation = null, string? theirsLocation = null)
        {
            var a = await SendAsync(ours, method, path(oursLocation), body, type, configure);
            var b = await SendAsync(theirs, method, path(theirsLocation), body, type, configure);
            if (a.Status != b.Status) differences.Add($"{step}: status {a.Status} vs {b.Status} ({b.Body.Trim()})");
            if (a.ErrorCode != b.ErrorCode) differences.Add($"{step}: code {a.ErrorCode} vs {b.ErrorCode}");
            foreach (var header in headers ?? [])
            {
                a.Headers.TryGetValue(header, out var x);
                b.Headers.TryGetValue(header, out var y);
                if (x != y) differences.Add($"{step}: {header} '{x}' vs '{y}'");
            }
            if (compareBody && a.Body.TrimEnd('\n') != b.Body.TrimEnd('\n')) differences.Add($"{step}: body '{a.Body}' vs '{b.Body}'");
            return (a, b);
        }

        await Same("api check", HttpMethod.Get, _ => "/v2/", headers: ["Docker-Distribution-API-Version"]);
        // Monolithic POST-then-PUT (docker-registry 2.8 has no single-POST upload; BuildGrid's is tested on its own).
        string At(string? location, string query = "") => location + (query.Length == 0 ? "" : (location!.Contains('?') ? "&" : "?") + query);
        await Same("monolithic upload", HttpMethod.Put, l => At(l, $"digest={image.Layer.Digest}"), image.Layer.Bytes,
            headers: ["Location", "Docker-Content-Digest", "Content-Length"],
            oursLocation: Location(await SendAsync(ours, HttpMethod.Post, $"/v2/{repo}/blobs/uploads/")),
            theirsLocation: Location(await SendAsync(theirs, HttpMethod.Post, $"/v2/{repo}/blobs/uploads/")));
        await Same("head blob", HttpMethod.Head, _ => $"/v2/{repo}/blobs/{image.Layer.Digest}",
            headers: ["Content-Length", "Docker-Content-Digest"]);
        await Same("ranged blob", HttpMethod.Get, _ => $"/v2/{repo}/blobs/{image.Layer.Digest}", configure: r => r.Headers.Range = new(1, 4),
            headers: ["Content-Range", "Content-Length"], compareBody: true);
        await Same("unknown blob", HttpMethod.Get, _ => $"/v2/{repo}/blobs/{missingDigest}");
        await Same("manifest before its config", HttpMethod.Put, _ => $"/v2/{repo}/manifests/v1", image.Manifest.Bytes, image.Manifest.MediaType);

        var oursSession = Location(await SendAsync(ours, HttpMethod.Post, $"/v2/{repo}/blobs/uploads/"));
        var theirsSession = Location(await SendAsync(theirs, HttpMethod.Post, $"/v2/{repo}/blobs/uploads/"));
        var half = image.Config.Bytes.Length / 2;
        // Clients follow the Location of each answer (distribution's changes with every chunk).
        var chunk = await Same("first chunk", HttpMethod.Patch, l => At(l), image.Config.Bytes[..half], configure: r => r.Content!.Headers.TryAddWithoutValidation("Content-Range", $"0-{half - 1}"),
            headers: ["Range", "Content-Length"], oursLocation: oursSession, theirsLocation: theirsSession);
        (oursSession, theirsSession) = (Location(chunk.Ours), Location(chunk.Theirs));
        await Same("upload status", HttpMethod.Get, l => At(l), headers: ["Range"], oursLocation: oursSession, theirsLocation: theirsSession);
        await Same("close with the rest", HttpMethod.Put, l => At(l, $"digest={image.Config.Digest}"), image.Config.Bytes[half..],
            headers: ["Location", "Docker-Content-Digest"], oursLocation: oursSession, theirsLocation: theirsSession);
        await Same("closed session", HttpMethod.Get, l => At(l), oursLocation: oursSession, theirsLocation: theirsSession);

        var oursWrong = Location(await SendAsync(ours, HttpMethod.Post, $"/v2/{repo}/blobs/uploads/"));
        var theirsWrong = Location(await SendAsync(theirs, HttpMethod.Post, $"/v2/{repo}/blobs/uploads/"));
        await Same("wrong digest", HttpMethod.Put, l => At(l, $"digest={missingDigest}"), "abc"u8.ToArray(), oursLocation: oursWrong, theirsLocation: theirsWrong);
        // Deliberate difference: the spec requires 416 for a chunk that does not start at the upload's end;
        // docker-registry 2.8 ignores Content-Range and appends (202), corrupting the upload. BuildGrid follows the spec.
        var oursGap = Location(await SendAsync(ours, HttpMethod.Post, $"/v2/{repo}/blobs/uploads/"));
        var theirsGap = Location(await SendAsync(theirs, HttpMethod.Post, $"/v2/{repo}/blobs/uploads/"));
        void Gap(HttpRequestMessage r) => r.Content!.Headers.TryAddWithoutValidation("Content-Range", "5-9");
        var oursGapAnswer = await SendAsync(ours, HttpMethod.Patch, oursGap, "12345"u8.ToArray(), configure: Gap);
        var theirsGapAnswer = await SendAsync(theirs, HttpMethod.Patch, theirsGap, "12345"u8.ToArray(), configure: Gap);
        Assert.Equal((416, "BLOB_UPLOAD_INVALID"), (oursGapAnswer.Status, oursGapAnswer.ErrorCode));
        Assert.Equal(202, theirsGapAnswer.Status);

        var oursCancel = Location(await SendAsync(ours, HttpMethod.Post, $"/v2/{repo}/blobs/uploads/"));
        var theirsCancel = Location(await SendAsync(theirs, HttpMethod.Post, $"/v2/{repo}/blobs/uploads/"));
        await Same("cancel upload", HttpMethod.Delete, l => At(l), oursLocation: oursCancel, theirsLocation: theirsCancel);

        await Same("manifest put", HttpMethod.Put, _ => $"/v2/{repo}/manifests/v1", image.Manifest.Bytes, image.Manifest.MediaType,
            headers: ["Location", "Docker-Content-Digest"]);
        await Same("manifest get", HttpMethod.Get, _ => $"/v2/{repo}/manifests/v1", configure: r => r.Headers.Accept.ParseAdd(OciTestImage.OciManifest),
            headers: ["Content-Type", "Docker-Content-Digest", "Content-Length"], compareBody: true);
        // With an Accept header: docker-registry 2.8 hides OCI manifests from clients that send none (BuildGrid serves
        // them as stored, since it never converts formats).
        await Same("manifest head by digest", HttpMethod.Head, _ => $"/v2/{repo}/manifests/{image.Manifest.Digest}",
            configure: r => r.Headers.Accept.ParseAdd(OciTestImage.OciManifest), headers: ["Content-Type", "Docker-Content-Digest", "Content-Length"]);
        await Same("tag list", HttpMethod.Get, _ => $"/v2/{repo}/tags/list", compareBody: true);
        await Same("unknown tag", HttpMethod.Get, _ => $"/v2/{repo}/manifests/nope");
        await Same("unknown repository tags", HttpMethod.Get, _ => $"/v2/{repo}-none/tags/list");
        await Same("manifest digest mismatch", HttpMethod.Put, _ => $"/v2/{repo}/manifests/{missingDigest}", image.Manifest.Bytes, image.Manifest.MediaType);
        await Same("manifest delete", HttpMethod.Delete, _ => $"/v2/{repo}/manifests/{image.Manifest.Digest}");
        await Same("deleted manifest", HttpMethod.Get, _ => $"/v2/{repo}/manifests/{image.Manifest.Digest}");
        await Same("blob delete", HttpMethod.Delete, _ => $"/v2/{repo}/blobs/{image.Layer.Digest}");
        await Same("deleted blob", HttpMethod.Head, _ => $"/v2/{repo}/blobs/{image.Layer.Digest}");

        // Docker schema 2 images under a manifest list: by tag, a client that takes no lists gets the linux/amd64 image.
        var amd = OciTestImage.Create("differential amd " + Guid.NewGuid(), "amd64", OciTestImage.DockerManifest);
        var arm = OciTestImage.Create("differential arm " + Guid.NewGuid(), "arm64", OciTestImage.DockerManifest);
        var list = OciTestImage.ManifestList((arm, "arm64"), (amd, "amd64"));
        foreach (var blob in amd.Blobs.Concat(arm.Blobs))
        {
            await PushBlobAsync(ours, repo, blob);
            await PushBlobAsync(theirs, repo, blob);
        }
        foreach (var docker in new[] { amd, arm })
            await Same("docker manifest put", HttpMethod.Put, _ => $"/v2/{repo}/manifests/{docker.Manifest.Digest}", docker.Manifest.Bytes,
                docker.Manifest.MediaType, headers: ["Location", "Docker-Content-Digest"]);
        await Same("manifest list put", HttpMethod.Put, _ => $"/v2/{repo}/manifests/multi", list.Bytes, list.MediaType,
            headers: ["Location", "Docker-Content-Digest"]);
        await Same("manifest list", HttpMethod.Get, _ => $"/v2/{repo}/manifests/multi",
            configure: r => { r.Headers.Accept.ParseAdd(OciTestImage.DockerManifestList); r.Headers.Accept.ParseAdd(OciTestImage.DockerManifest); },
            headers: ["Content-Type", "Docker-Content-Digest", "Content-Length"], compareBody: true);
        await Same("manifest list to a client without lists", HttpMethod.Get, _ => $"/v2/{repo}/manifests/multi",
            configure: r => r.Headers.Accept.ParseAdd(OciTestImage.DockerManifest),
            headers: ["Content-Type", "Docker-Content-Digest", "Content-Length"], compareBody: true);
        await Same("manifest list by digest to a client without lists", HttpMethod.Get, _ => $"/v2/{repo}/manifests/{list.Digest}",
            configure: r => r.Headers.Accept.ParseAdd(OciTestImage.DockerManifest),
            headers: ["Content-Type", "Docker-Content-Digest"], compareBody: true);
        // Conditional requests: an If-None-Match naming the digest is answered 304 (distribution's manifest 304 carries no
        // ETag; BuildGrid's does, as RFC 9110 asks).
        await Same("unchanged manifest", HttpMethod.Get, _ => $"/v2/{repo}/manifests/{amd.Manifest.Digest}",
            configure: r => r.Headers.TryAddWithoutValidation("If-None-Match", $"\"{amd.Manifest.Digest}\""));
        await Same("unchanged blob", HttpMethod.Get, _ => $"/v2/{repo}/blobs/{amd.Layer.Digest}",
            configure: r => r.Headers.TryAddWithoutValidation("If-None-Match", $"\"{amd.Layer.Digest}\""), headers: ["ETag"]);

        Assert.True(differences.Count == 0, "BuildGrid differs from docker-registry:\n" + string.Join('\n', differences));
    }

    /// <summary>POST then PUT (docker-registry 2.8 has no single-POST upload).</summary>
    static async Task PushBlobAsync(HttpClient http, string repository, TestBlob blob)
    {
        var session = Location(await SendAsync(http, HttpMethod.Post, $"/v2/{repository}/blobs/uploads/"));
        var put = await SendAsync(http, HttpMethod.Put, session + (session.Contains('?') ? "&" : "?") + $"digest={blob.Digest}", blob.Bytes);
        Assert.True(put.Status == 201, $"blob push to {http.BaseAddress}: {put.Status} {put.Body}");
    }

    static string Location(Answer answer) => answer.Headers.TryGetValue("Location", out var location) ? location
        : throw new InvalidOperationException($"no Location in a {answer.Status} answer: {answer.Body}");

    static async Task<Answer> SendAsync(HttpClient http, HttpMethod method, string path, byte[]? body = null, string? type = null,
        Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = new(type ?? "application/octet-stream");
        }
        configure?.Invoke(request);
        using var response = await http.SendAsync(request, Ct);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            headers[name] = string.Join(",", values);
        // The reference answers absolute URLs; BuildGrid answers paths. Clients resolve both the same way.
        if (headers.TryGetValue("Location", out var location) && Uri.TryCreate(location, UriKind.Absolute, out var absolute))
            headers["Location"] = absolute.PathAndQuery;
        if (headers.TryGetValue("Location", out var path2) && path2.Contains("/blobs/uploads/"))
            headers["Location"] = path2;   // session URLs differ by design (ids, distribution's _state); compared by use, not text
        if (headers.TryGetValue("Content-Type", out var contentType) && contentType.StartsWith("application/json", StringComparison.Ordinal))
            headers["Content-Type"] = "application/json";
        var text = await response.Content.ReadAsStringAsync(Ct);
        string? code = null;
        if ((int)response.StatusCode >= 400 && text.StartsWith("{\"errors\"", StringComparison.Ordinal))
            code = System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("errors")[0].GetProperty("code").GetString();
        return new Answer((int)response.StatusCode, headers, text, code);
    }

    async Task<Uri> StartReferenceAsync()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var config = Path.Combine(work, "config.yml");
        await File.WriteAllTextAsync(config, $"""
            version: 0.1
            log:
              level: error
            storage:
              filesystem:
                rootdirectory: {Path.Combine(work, "storage")}
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{port}
            """, Ct);
        reference = Process.Start(new ProcessStartInfo(ExternalTool.Find("docker-registry")!, ["serve", config])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        })!;
        reference.BeginOutputReadLine();
        reference.BeginErrorReadLine();
        var url = new Uri($"http://127.0.0.1:{port}");
        using var probe = new HttpClient { BaseAddress = url };
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                using var answer = await probe.GetAsync("/v2/", Ct);
                if (answer.StatusCode == HttpStatusCode.OK) return url;
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
            }
            Assert.False(reference.HasExited, "docker-registry exited at start");
            await Task.Delay(100, Ct);
        }
    }

    public ValueTask DisposeAsync()
    {
        if (reference is { HasExited: false })
        {
            reference.Kill();
            reference.WaitForExit();
        }
        reference?.Dispose();
        TestDirectories.TryDelete(work);
        return ValueTask.CompletedTask;
    }
}
