using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace BuildGrid.Tests.Registry;

/// <summary>A blob: its bytes and sha256 digest.</summary>
public sealed record TestBlob(byte[] Bytes, string MediaType)
{
    public string Digest { get; } = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Bytes));
    public long Size => Bytes.Length;
    public string Hex => Digest["sha256:".Length..];
    public object Descriptor(object? platform = null) => platform is null
        ? new { mediaType = MediaType, digest = Digest, size = Size }
        : new { mediaType = MediaType, digest = Digest, size = Size, platform };
}

/// <summary>
/// Small, valid container images made in the test (no network, no daemon): a gzip'd tar layer with one file, a config,
/// an OCI image manifest; OCI layouts for skopeo; raw pushes over /v2/.
/// </summary>
public sealed class OciTestImage
{
    public required TestBlob Layer { get; init; }
    public required TestBlob Config { get; init; }
    public required TestBlob Manifest { get; init; }

    public IEnumerable<TestBlob> Blobs => [Layer, Config];

    public static OciTestImage Create(string content, string architecture = "amd64", string? manifestMediaType = null)
    {
        var layer = new TestBlob(GzipTar("hello.txt", Encoding.UTF8.GetBytes(content)), manifestMediaType == DockerManifest
            ? "application/vnd.docker.image.rootfs.diff.tar.gzip" : "application/vnd.oci.image.layer.v1.tar+gzip");
        var diffId = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Tar("hello.txt", Encoding.UTF8.GetBytes(content))));
        var config = new TestBlob(JsonSerializer.SerializeToUtf8Bytes(new
        {
            architecture, os = "linux",
            config = new { Entrypoint = new[] { "/hello.txt" } },
            rootfs = new { type = "layers", diff_ids = new[] { diffId } },
        }), manifestMediaType == DockerManifest ? "application/vnd.docker.container.image.v1+json" : "application/vnd.oci.image.config.v1+json");
        var mediaType = manifestMediaType ?? OciManifest;
        var manifest = new TestBlob(JsonSerializer.SerializeToUtf8Bytes(new
        {
            schemaVersion = 2, mediaType, config = config.Descriptor(), layers = new[] { layer.Descriptor() },
        }), mediaType);
        return new OciTestImage { Layer = layer, Config = config, Manifest = manifest };
    }

    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";

    /// <summary>An OCI index over images of several platforms.</summary>
    public static TestBlob Index(params (OciTestImage Image, string Architecture)[] images) => List(OciIndex, images);

    /// <summary>A Docker schema 2 manifest list over images of several platforms.</summary>
    public static TestBlob ManifestList(params (OciTestImage Image, string Architecture)[] images) => List(DockerManifestList, images);

    static TestBlob List(string mediaType, (OciTestImage Image, string Architecture)[] images) =>
        new(JsonSerializer.SerializeToUtf8Bytes(new
        {
            schemaVersion = 2, mediaType,
            manifests = images.Select(i => i.Image.Manifest.Descriptor(new { architecture = i.Architecture, os = "linux" })).ToArray(),
        }), mediaType);

    /// <summary>Writes an OCI image layout (oci-layout, index.json, blobs/sha256/...) whose index names <paramref name="top"/> as <paramref name="tag"/>.</summary>
    public static void WriteLayout(string directory, string tag, TestBlob top, IEnumerable<TestBlob> blobs)
    {
        var blobDir = Path.Combine(directory, "blobs", "sha256");
        Directory.CreateDirectory(blobDir);
        foreach (var blob in blobs.Append(top))
            File.WriteAllBytes(Path.Combine(blobDir, blob.Hex), blob.Bytes);
        File.WriteAllText(Path.Combine(directory, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        File.WriteAllBytes(Path.Combine(directory, "index.json"), JsonSerializer.SerializeToUtf8Bytes(new
        {
            schemaVersion = 2,
            manifests = new[] { new { mediaType = top.MediaType, digest = top.Digest, size = top.Size,
                annotations = new Dictionary<string, string> { ["org.opencontainers.image.ref.name"] = tag } } },
        }));
    }

    /// <summary>The manifest digest the layout's index.json names.</summary>
    public static string LayoutDigest(string directory)
    {
        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(directory, "index.json")));
        return index.RootElement.GetProperty("manifests")[0].GetProperty("digest").GetString()!;
    }

    static byte[] Tar(string name, byte[] content)
    {
        using var output = new MemoryStream();
        using (var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
        {
            var entry = new PaxTarEntry(TarEntryType.RegularFile, name)
            {
                DataStream = new MemoryStream(content), ModificationTime = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero),
                Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            };
            writer.WriteEntry(entry);
        }
        return output.ToArray();
    }

    static byte[] GzipTar(string name, byte[] content)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
            gzip.Write(Tar(name, content));
        return output.ToArray();
    }
}

/// <summary>Raw /v2/ calls, as a registry client makes them.</summary>
public sealed class V2Client(HttpClient http)
{
    public HttpClient Http => http;
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, byte[]? body = null, string? contentType = null,
        Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType ?? "application/octet-stream");
        }
        configure?.Invoke(request);
        return await http.SendAsync(request, Ct);
    }

    /// <summary>POST ?digest= with the whole blob.</summary>
    public async Task PushBlobAsync(string repository, TestBlob blob)
    {
        using var response = await SendAsync(HttpMethod.Post, $"/v2/{repository}/blobs/uploads/?digest={blob.Digest}", blob.Bytes);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"blob push: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
    }

    public async Task<HttpResponseMessage> PutManifestAsync(string repository, string reference, TestBlob manifest) =>
        await SendAsync(HttpMethod.Put, $"/v2/{repository}/manifests/{reference}", manifest.Bytes, manifest.MediaType);

    public async Task PushImageAsync(string repository, string tag, OciTestImage image)
    {
        foreach (var blob in image.Blobs)
            await PushBlobAsync(repository, blob);
        using var response = await PutManifestAsync(repository, tag, image.Manifest);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"manifest put: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
    }

    /// <summary>The first error code of a spec error body.</summary>
    public static async Task<string> ErrorCodeAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        using var document = JsonDocument.Parse(text);
        var error = document.RootElement.GetProperty("errors")[0];
        Assert.True(error.TryGetProperty("message", out _), text);
        return error.GetProperty("code").GetString()!;
    }

    public static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values)
        : response.Content.Headers.TryGetValues(name, out var contentValues) ? string.Join(",", contentValues) : "";

    public static string UniqueRepository(string prefix) => $"test-{Guid.NewGuid():N}"[..17] + "/" + prefix;
}
