using System.Security.Cryptography;
using System.Text;

namespace BuildGrid.Hostile.Tests.Campaign;

/// <summary>
/// The OCI distribution API under /v2/: hostile repository names, references, digests, Content-Range and Range headers,
/// upload ids and manifests, around one real repository (a pushed image) and open upload sessions of the campaign's own.
/// </summary>
public sealed class RegistrySurface(HostileValues hostile)
{
    public const string Repository = "hostile/base";
    public static readonly byte[] Layer = Encoding.UTF8.GetBytes("hostile campaign layer");
    public static readonly byte[] Config = """{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"""u8.ToArray();

    public static string DigestOf(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    public static string Manifest(string configDigest, string layerDigest, string? subject = null) => $$"""
        {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
         "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{configDigest}}","size":{{Config.Length}}},
         "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{{layerDigest}}","size":{{Layer.Length}}}]{{(subject is null ? "" : $",\"subject\":{subject}")}}}
        """;

    /// <summary>Pushes the real image the hostile requests aim around; returns open upload locations.</summary>
    public static async Task<IReadOnlyList<string>> SetUpAsync(HttpClient client, CancellationToken ct)
    {
        foreach (var blob in new[] { Layer, Config })
        {
            using var start = await client.PostAsync($"/v2/{Repository}/blobs/uploads/", null, ct);
            start.EnsureSuccessStatusCode();
            var location = start.Headers.Location!.ToString();
            using var put = await client.PutAsync(location + (location.Contains('?') ? "&" : "?") + "digest=" + DigestOf(blob), new ByteArrayContent(blob), ct);
            put.EnsureSuccessStatusCode();
        }
        using var manifest = new StringContent(Manifest(DigestOf(Config), DigestOf(Layer)));
        manifest.Headers.ContentType = new("application/vnd.oci.image.manifest.v1+json");
        (await client.PutAsync($"/v2/{Repository}/manifests/v1", manifest, ct)).EnsureSuccessStatusCode();
        var uploads = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            using var start = await client.PostAsync($"/v2/{Repository}/blobs/uploads/", null, ct);
            start.EnsureSuccessStatusCode();
            uploads.Add(start.Headers.Location!.ToString());
        }
        return uploads;
    }

    public IEnumerable<HttpShot> Shots(IReadOnlyList<string> uploads)
    {
        var layer = DigestOf(Layer);
        var config = DigestOf(Config);
        string[] names = [Repository, .. Enumerable.Range(0, 24).Select(_ => hostile.PathSegment()), "A/UPPER", "a//b", "a/", "-a", "a..b",
            new string('a', 256), string.Join("/", Enumerable.Repeat("x", 200)), "%2e%2e/%2e%2e", "..", "hostile/base/../base"];
        string[] references = ["v1", layer, "", "-", ".", new string('t', 129), "sha256:", "sha256:abc", "sha256:" + new string('Z', 64),
            "SHA256:" + layer[7..], "sha512:" + new string('0', 128), "md5:0", "sha256:" + layer[7..] + "0", "v1%00", "%2e%2e", "a:b:c",
            .. Enumerable.Range(0, 8).Select(_ => hostile.PathSegment())];
        string[] digests = [layer, "sha256:" + new string('0', 64), "sha256:abc", "sha256:../../../../etc/passwd", "sha256:%2e%2e%2f",
            "foo:" + new string('a', 64), "sha256:" + new string('A', 64), "", "sha256:" + new string('0', 10_000), .. Enumerable.Range(0, 6).Select(_ => hostile.PathSegment())];
        string[] ranges = ["bytes=5-1", "bytes=-0", "bytes=0-99999999999999999999", "items=0-1", "bytes=0-1,3-4", "bytes=", "bytes=-", "bytes=999-",
            "bytes=0-0", "bytes=-5", "bytes=1-2-3"];
        string[] contentRanges = ["0-", "5-1", "abc", "0-18446744073709551615", "-1-5", "bytes 0-4/5", "0-4", "100-104", "0-99999999", "0--1"];
        var uploadIds = new List<string>(uploads.Select(u => u.Split('?')[0].Split('/')[^1]))
            { "", "..", "%2e%2e%2f%2e%2e%2f", "00000000-0000-0000-0000-000000000000", new string('u', 4000), "' OR 1=1 --", "%00", "%c0%af" };

        foreach (var name in names)
        {
            yield return new HttpShot("GET", $"/v2/{name}/tags/list");
            yield return new HttpShot("GET", $"/v2/{name}/manifests/v1");
            yield return new HttpShot("HEAD", $"/v2/{name}/blobs/{layer}");
            yield return new HttpShot("POST", $"/v2/{name}/blobs/uploads/");
            yield return new HttpShot("DELETE", $"/v2/{name}/manifests/{layer}");
            yield return new HttpShot("GET", $"/v2/{name}/referrers/{layer}");
        }
        foreach (var reference in references)
        {
            yield return new HttpShot("GET", $"/v2/{Repository}/manifests/{reference}");
            yield return new HttpShot("HEAD", $"/v2/{Repository}/manifests/{reference}");
            yield return new HttpShot("DELETE", $"/v2/{Repository}/manifests/{reference}x");
            yield return PutManifest(reference == "v1" ? "v2" : reference, Manifest(config, layer));
            yield return new HttpShot("GET", $"/v2/{Repository}/referrers/{reference}?artifactType=%00");
        }
        foreach (var digest in digests)
        {
            yield return new HttpShot("GET", $"/v2/{Repository}/blobs/{digest}");
            yield return new HttpShot("DELETE", $"/v2/{Repository}/blobs/{digest}x");
            yield return new HttpShot("POST", $"/v2/{Repository}/blobs/uploads/?digest={digest}", Layer, "application/octet-stream");
            yield return new HttpShot("POST", $"/v2/{Repository}/blobs/uploads/?mount={digest}&from=..%2F..%2Fetc");
            yield return new HttpShot("POST", $"/v2/hostile/other/blobs/uploads/?mount={digest}&from={Uri.EscapeDataString(hostile.String().Length > 300 ? "x" : hostile.String())}");
        }
        foreach (var range in ranges)
            yield return new HttpShot("GET", $"/v2/{Repository}/blobs/{layer}", Headers: [new("Range", range)]);
        foreach (var id in uploadIds)
        {
            var path = $"/v2/{Repository}/blobs/uploads/{id}";
            yield return new HttpShot("GET", path);
            foreach (var contentRange in contentRanges.OrderBy(_ => hostile.Random.Next()).Take(3))
                yield return new HttpShot("PATCH", path, hostile.Bytes(16), "application/octet-stream", [new("Content-Range", contentRange)]);
            yield return new HttpShot("PUT", path + "?digest=" + hostile.Pick(digests), hostile.Bytes(8), "application/octet-stream");
            yield return new HttpShot("PUT", path, [], "application/octet-stream");
            yield return new HttpShot("PUT", path + "?digest=" + layer + "&digest=" + config, Layer, "application/octet-stream");
            yield return new HttpShot("POST", path);
        }
        // Manifests: broken JSON, wrong media types, unknown blobs, a subject that is garbage, huge and deep documents.
        string[] manifests =
        [
            "", "{", "[]", "null", "{\"schemaVersion\":\"2\"}", "{\"schemaVersion\":1}", "{\"schemaVersion\":2}",
            Manifest("sha256:" + new string('0', 64), layer), Manifest(config, "sha256:../../etc/passwd"), Manifest("md5:x", layer),
            Manifest(config, layer, subject: "{\"digest\":\"sha256:bad\",\"size\":-1,\"mediaType\":\"\\u0000\"}"),
            Manifest(config, layer).Replace("\"size\":" + Layer.Length, "\"size\":-5", StringComparison.Ordinal),
            Manifest(config, layer).Replace("\"size\":" + Layer.Length, "\"size\":1e400", StringComparison.Ordinal),
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"digest\":\"" + layer + "\",\"size\":1}]}",
            "{\"schemaVersion\":2,\"layers\":" + HostileValues.DeepJson(3000, objects: false) + "}",
            "{\"schemaVersion\":2,\"annotations\":{\"a\":\"" + HostileValues.Huge() + "\"}}",
        ];
        string[] mediaTypes = ["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.oci.image.index.v1+json", "text/plain", "application/vnd.docker.distribution.manifest.v1+prettyjws", "x/y; charset=\"'"];
        foreach (var manifest in manifests)
        {
            foreach (var mediaType in mediaTypes.OrderBy(_ => hostile.Random.Next()).Take(2))
                yield return PutManifest("hostile-" + hostile.Random.Next(1000), manifest, mediaType);
        }
        yield return new HttpShot("PUT", $"/v2/{Repository}/manifests/v3", [0xC0, 0xAF, .. Encoding.UTF8.GetBytes(Manifest(config, layer))], "application/vnd.oci.image.manifest.v1+json");
        // The catalog and tag list paging.
        foreach (var query in new[] { "n=-1", "n=abc", "n=99999999999", "last=%00", "last=..%2F..", "n=1&last=" + new string('z', 5000), "n=0", "n=1&n=2" })
        {
            yield return new HttpShot("GET", "/v2/_catalog?" + query);
            yield return new HttpShot("GET", $"/v2/{Repository}/tags/list?" + query);
        }
        foreach (var method in new[] { "PUT", "POST", "PATCH", "DELETE" })
        {
            yield return new HttpShot(method, "/v2/");
            yield return new HttpShot(method, "/v2/_catalog");
            yield return new HttpShot(method, $"/v2/{Repository}/tags/list");
        }
    }

    static HttpShot PutManifest(string reference, string manifest, string mediaType = "application/vnd.oci.image.manifest.v1+json") =>
        new("PUT", $"/v2/{Repository}/manifests/{reference}", Encoding.UTF8.GetBytes(manifest), mediaType);
}
