using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using BuildGrid.Registry.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;

namespace BuildGrid.Tests.Registry;

/// <summary>
/// Pull-through caches with a real upstream: docker-registry on loopback (open, and with htpasswd: a Basic challenge)
/// and a password-protected BuildGrid (the distribution token flow). Pulls go through skopeo and plain /v2/ requests;
/// what the upstream served is counted in its access log.
/// </summary>
public sealed class ProxyCacheTests : IDisposable
{
    readonly string work = TestDirectories.Create("proxy-cache");
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    const string Loopback = "--Registry:Proxy:AllowLoopbackUpstreams=true";

    public void Dispose() => TestDirectories.TryDelete(work);

    static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    static V2Client Upstream(DockerRegistry registry, AuthenticationHeaderValue? authorization = null)
    {
        var http = new HttpClient { BaseAddress = registry.Url };
        http.DefaultRequestHeaders.Authorization = authorization;
        return new V2Client(http);
    }

    /// <summary>Pushes an image the way docker-registry takes it (POST, then PUT ?digest=; it has no monolithic POST).</summary>
    static async Task PushAsync(DockerRegistry registry, string repository, string tag, OciTestImage image, AuthenticationHeaderValue? authorization = null)
    {
        var v2 = Upstream(registry, authorization);
        foreach (var blob in image.Blobs)
        {
            using var start = await v2.SendAsync(HttpMethod.Post, $"/v2/{repository}/blobs/uploads/");
            Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
            var location = start.Headers.Location!.ToString();
            using var put = await v2.SendAsync(HttpMethod.Put, location + (location.Contains('?') ? "&" : "?") + $"digest={blob.Digest}", blob.Bytes);
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }
        using var manifest = await v2.PutManifestAsync(repository, tag, image.Manifest);
        Assert.Equal(HttpStatusCode.Created, manifest.StatusCode);
    }

    static V2Client V2(OwnedHost host) => new(new HttpClient { BaseAddress = host.RestUrl });

    static async Task<(HttpStatusCode Status, string Body)> SetCacheAsync(OwnedHost host, string ns, object body)
    {
        using var http = new HttpClient { BaseAddress = host.RestUrl };
        using var response = await http.PutAsJsonAsync($"/buildgrid/v1/namespaces/{ns}/proxy-cache", body, Ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
    }

    static int Count(DockerRegistry registry, string requestPrefix) => registry.Requests.Count(r => r.StartsWith(requestPrefix, StringComparison.Ordinal));

    static async Task<(HttpStatusCode Status, string Digest, string Body)> GetManifestAsync(V2Client v2, string path)
    {
        using var response = await v2.SendAsync(HttpMethod.Get, path, configure: r => r.Headers.Accept.ParseAdd(OciTestImage.OciManifest));
        return (response.StatusCode, response.Headers.TryGetValues("Docker-Content-Digest", out var d) ? d.First() : "",
            await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Skopeo_pulls_through_the_cache_once_then_from_the_cache_with_a_HEAD_and_while_the_upstream_is_down()
    {
        ExternalTool.Require("skopeo");
        await using var upstream = await DockerRegistry.StartAsync();
        var image = OciTestImage.Create("proxied " + Guid.NewGuid());
        await PushAsync(upstream, "lib/app", "v1", image);
        // TagRevalidateAfter 0: every pull asks the upstream about the tag (a HEAD), so the down upstream is noticed.
        await using var host = await OwnedHost.StartAsync("proxy-skopeo", Loopback, "--Registry:Proxy:TagRevalidateAfter=00:00:00");
        var (status, body) = await SetCacheAsync(host, "hub", new { url = upstream.Url.ToString() });
        Assert.True(status == HttpStatusCode.OK, body);
        using (var doc = JsonDocument.Parse(body))
        {
            Assert.Equal(upstream.Url.ToString().TrimEnd('/'), doc.RootElement.GetProperty("url").GetString());
            Assert.Equal("api", doc.RootElement.GetProperty("source").GetString());
        }
        var source = $"docker://{host.RestUrl.Host}:{host.RestUrl.Port}/hub/lib/app:v1";

        async Task PullAsync(string into)
        {
            await ExternalTool.RunAsync("skopeo", "copy", "--preserve-digests", "--src-tls-verify=false", source, $"oci:{into}:v1");
            Assert.Equal(image.Manifest.Digest, OciTestImage.LayoutDigest(into));
            foreach (var blob in image.Blobs)
                Assert.Equal(blob.Bytes, await File.ReadAllBytesAsync(Path.Combine(into, "blobs", "sha256", blob.Hex), Ct));
        }

        await PullAsync(Path.Combine(work, "first"));
        foreach (var blob in image.Blobs)
            Assert.Equal(1, Count(upstream, $"GET /v2/lib/app/blobs/{blob.Digest} "));
        var manifestGets = Count(upstream, "GET /v2/lib/app/manifests/");

        var before = upstream.Requests.Count;
        await PullAsync(Path.Combine(work, "second"));
        var during = upstream.Requests.Skip(before).ToList();
        Assert.Contains(during, r => r.StartsWith("HEAD /v2/lib/app/manifests/v1 ", StringComparison.Ordinal));
        Assert.DoesNotContain(during, r => r.Contains("/blobs/", StringComparison.Ordinal));
        Assert.Equal(manifestGets, Count(upstream, "GET /v2/lib/app/manifests/"));

        await upstream.StopAsync();
        await PullAsync(Path.Combine(work, "upstream-down"));
        // Nothing cached under another tag, and nobody to ask: the registry's own 503 UNAVAILABLE, naming the upstream.
        var (missing, _, error) = await GetManifestAsync(V2(host), "/v2/hub/lib/app/manifests/v2");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, missing);
        Assert.Contains("UNAVAILABLE", error);
        Assert.Contains(upstream.Host, error);
    }

    [Fact]
    public async Task A_tag_that_moved_upstream_is_fetched_again_only_after_the_revalidation_interval()
    {
        await using var upstream = await DockerRegistry.StartAsync();
        var first = OciTestImage.Create("first " + Guid.NewGuid());
        var second = OciTestImage.Create("second " + Guid.NewGuid());
        await PushAsync(upstream, "lib/moving", "latest", first);
        await using var host = await OwnedHost.StartAsync("proxy-ttl", Loopback, "--Registry:Proxy:TagRevalidateAfter=00:00:02",
            $"--Registry:ProxyCache:mirror:Url={upstream.Url}");
        var v2 = V2(host);
        Assert.Equal(first.Manifest.Digest, (await GetManifestAsync(v2, "/v2/mirror/lib/moving/manifests/latest")).Digest);

        await PushAsync(upstream, "lib/moving", "latest", second);
        var heads = Count(upstream, "HEAD /v2/lib/moving/manifests/latest ");
        // Within the interval the cached tag is served without asking the upstream.
        Assert.Equal(first.Manifest.Digest, (await GetManifestAsync(v2, "/v2/mirror/lib/moving/manifests/latest")).Digest);
        Assert.Equal(heads, Count(upstream, "HEAD /v2/lib/moving/manifests/latest "));

        await Task.Delay(TimeSpan.FromSeconds(2.2), Ct);
        var (status, digest, body) = await GetManifestAsync(v2, "/v2/mirror/lib/moving/manifests/latest");
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.Equal(second.Manifest.Digest, digest);
        Assert.Equal(heads + 1, Count(upstream, "HEAD /v2/lib/moving/manifests/latest "));
        // The old image stays pullable by digest from the cache.
        Assert.Equal(HttpStatusCode.OK, (await GetManifestAsync(v2, $"/v2/mirror/lib/moving/manifests/{first.Manifest.Digest}")).Status);
    }

    [Fact]
    public async Task Concurrent_first_pulls_of_one_blob_fetch_it_from_the_upstream_once()
    {
        await using var upstream = await DockerRegistry.StartAsync();
        var layer = new TestBlob(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24 * 1024 * 1024), "application/vnd.oci.image.layer.v1.tar");
        var small = OciTestImage.Create("big " + Guid.NewGuid());
        var image = new OciTestImage
        {
            Layer = layer, Config = small.Config,
            Manifest = new TestBlob(JsonSerializer.SerializeToUtf8Bytes(new
            {
                schemaVersion = 2, mediaType = OciTestImage.OciManifest, config = small.Config.Descriptor(), layers = new[] { layer.Descriptor() },
            }), OciTestImage.OciManifest),
        };
        await PushAsync(upstream, "lib/big", "v1", image);
        await using var host = await OwnedHost.StartAsync("proxy-flight", Loopback);
        Assert.Equal(HttpStatusCode.OK, (await SetCacheAsync(host, "hub", new { url = upstream.Url.ToString() })).Status);
        var v2 = V2(host);
        Assert.Equal(image.Manifest.Digest, (await GetManifestAsync(v2, "/v2/hub/lib/big/manifests/v1")).Digest);

        var pulls = Enumerable.Range(0, 8).Select(async _ =>
        {
            using var http = new HttpClient { BaseAddress = host.RestUrl };
            using var response = await http.GetAsync($"/v2/hub/lib/big/blobs/{layer.Digest}", Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return System.Security.Cryptography.SHA256.HashData(await response.Content.ReadAsByteArrayAsync(Ct));
        }).ToList();
        foreach (var hash in await Task.WhenAll(pulls))
            Assert.Equal(layer.Hex, Convert.ToHexStringLower(hash));
        Assert.Equal(1, Count(upstream, $"GET /v2/lib/big/blobs/{layer.Digest} "));
    }

    [Fact]
    public async Task An_htpasswd_upstream_from_settings_is_pulled_with_its_credentials_whose_password_is_never_shown()
    {
        const string User = "puller", Password = "Up-str3am-pw";
        await using var upstream = await DockerRegistry.StartAsync(User, Password);
        var image = OciTestImage.Create("private " + Guid.NewGuid());
        await PushAsync(upstream, "team/base", "1.0", image, Basic(User, Password));
        await using var host = await OwnedHost.StartAsync("proxy-basic", Loopback,
            $"--Registry:ProxyCache:private:Url={upstream.Url}", $"--Registry:ProxyCache:private:Username={User}",
            $"--Registry:ProxyCache:private:Password={Password}",
            $"--Registry:ProxyCache:wrong:Url={upstream.Url}", $"--Registry:ProxyCache:wrong:Username={User}",
            "--Registry:ProxyCache:wrong:Password=not-it");
        var v2 = V2(host);
        var (status, digest, body) = await GetManifestAsync(v2, "/v2/private/team/base/manifests/1.0");
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.Equal(image.Manifest.Digest, digest);
        using (var blob = await v2.SendAsync(HttpMethod.Get, $"/v2/private/team/base/blobs/{image.Layer.Digest}"))
            Assert.Equal(image.Layer.Bytes, await blob.Content.ReadAsByteArrayAsync(Ct));

        var refused = await GetManifestAsync(v2, "/v2/wrong/team/base/manifests/1.0");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Status);
        Assert.Contains("refused the cache's credentials", refused.Body);

        using var http = new HttpClient { BaseAddress = host.RestUrl };
        var shown = await http.GetStringAsync("/buildgrid/v1/namespaces/private/proxy-cache", Ct);
        Assert.DoesNotContain(Password, shown);
        using (var doc = JsonDocument.Parse(shown))
        {
            Assert.Equal("settings", doc.RootElement.GetProperty("source").GetString());
            Assert.True(doc.RootElement.GetProperty("hasPassword").GetBoolean());
            Assert.Equal(User, doc.RootElement.GetProperty("username").GetString());
        }
        Assert.DoesNotContain(Password, await http.GetStringAsync("/buildgrid/v1/proxy-caches", Ct));
        // A cache set in the settings is changed there, not through the API.
        var (changed, answer) = await SetCacheAsync(host, "private", new { url = "http://127.0.0.1:1" });
        Assert.Equal(HttpStatusCode.BadRequest, changed);
        Assert.Contains("PROXY_CACHE_FROM_SETTINGS", answer);
    }

    [Fact]
    public async Task An_upstream_that_challenges_with_a_bearer_realm_is_pulled_through_the_token_flow()
    {
        const string AdminPassword = "Upstream-admin-pw1";
        await using var origin = await OwnedHost.StartAsync("proxy-origin", $"--BUILDGRID_ADMIN_PASSWORD={AdminPassword}");
        var image = OciTestImage.Create("token " + Guid.NewGuid());
        var pusher = new V2Client(new HttpClient { BaseAddress = origin.RestUrl });
        pusher.Http.DefaultRequestHeaders.Authorization = Basic("admin", AdminPassword);
        await pusher.PushImageAsync("secret/app", "v1", image);
        using (var anonymous = new HttpClient { BaseAddress = origin.RestUrl })
        using (var challenge = await anonymous.GetAsync("/v2/secret/app/manifests/v1", Ct))
            Assert.Equal("Bearer", challenge.Headers.WwwAuthenticate.Single().Scheme);

        await using var host = await OwnedHost.StartAsync("proxy-token", Loopback);
        var url = $"http://{origin.RestUrl.Host}:{origin.RestUrl.Port}";
        Assert.Equal(HttpStatusCode.OK, (await SetCacheAsync(host, "anon", new { url })).Status);
        var (status, body) = await SetCacheAsync(host, "origin", new { url, username = "admin", password = AdminPassword });
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.DoesNotContain(AdminPassword, body);
        var v2 = V2(host);

        var withoutCredentials = await GetManifestAsync(v2, "/v2/anon/secret/app/manifests/v1");
        Assert.NotEqual(HttpStatusCode.OK, withoutCredentials.Status);

        var pulled = await GetManifestAsync(v2, "/v2/origin/secret/app/manifests/v1");
        Assert.True(pulled.Status == HttpStatusCode.OK, pulled.Body);
        Assert.Equal(image.Manifest.Digest, pulled.Digest);
        using var blob = await v2.SendAsync(HttpMethod.Get, $"/v2/origin/secret/app/blobs/{image.Config.Digest}");
        Assert.Equal(image.Config.Bytes, await blob.Content.ReadAsByteArrayAsync(Ct));

        // Changing the URL only keeps the stored password (it is never sent back, so a client could not resend it).
        Assert.Equal(HttpStatusCode.OK, (await SetCacheAsync(host, "origin", new { url = url + "/", username = "admin" })).Status);
        using var http = new HttpClient { BaseAddress = host.RestUrl };
        Assert.Contains("\"hasPassword\":true", await http.GetStringAsync("/buildgrid/v1/namespaces/origin/proxy-cache", Ct));
    }

    [Fact]
    public async Task Pushes_and_deletes_in_a_cache_namespace_are_refused_with_UNSUPPORTED()
    {
        ExternalTool.Require("skopeo");
        await using var upstream = await DockerRegistry.StartAsync();
        await using var host = await OwnedHost.StartAsync("proxy-readonly", Loopback, $"--Registry:ProxyCache:hub:Url={upstream.Url}");
        var image = OciTestImage.Create("refused " + Guid.NewGuid());
        var v2 = V2(host);
        using (var start = await v2.SendAsync(HttpMethod.Post, "/v2/hub/lib/x/blobs/uploads/"))
        {
            Assert.Equal(HttpStatusCode.MethodNotAllowed, start.StatusCode);
            Assert.Contains("UNSUPPORTED", await start.Content.ReadAsStringAsync(Ct));
        }
        using (var put = await v2.PutManifestAsync("hub/lib/x", "v1", image.Manifest))
            Assert.Equal(HttpStatusCode.MethodNotAllowed, put.StatusCode);
        using (var delete = await v2.SendAsync(HttpMethod.Delete, $"/v2/hub/lib/x/manifests/{image.Manifest.Digest}"))
            Assert.Equal(HttpStatusCode.MethodNotAllowed, delete.StatusCode);

        var layout = Path.Combine(work, "push");
        OciTestImage.WriteLayout(layout, "v1", image.Manifest, image.Blobs);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => ExternalTool.RunAsync("skopeo", "copy", "--dest-tls-verify=false",
            $"oci:{layout}:v1", $"docker://{host.RestUrl.Host}:{host.RestUrl.Port}/hub/lib/x:v1"));
        Assert.Contains("unsupported", error.Message, StringComparison.OrdinalIgnoreCase);
        // Nothing but reads reached the upstream (skopeo's existence checks of the blobs are pulls).
        Assert.DoesNotContain(upstream.Requests, r => !r.StartsWith("GET ", StringComparison.Ordinal) && !r.StartsWith("HEAD ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bad_cache_settings_get_clear_errors_and_metadata_addresses_are_refused()
    {
        await using var open = await OwnedHost.StartAsync("proxy-bad", Loopback);
        foreach (var (url, reason) in new[]
        {
            ("http://169.254.169.254", "UPSTREAM_REFUSED"),
            ("http://[::ffff:169.254.169.254]:80", "UPSTREAM_REFUSED"),
            ("http://[fd00:ec2::254]", "UPSTREAM_REFUSED"),
            ("http://0.0.0.0:5000", "UPSTREAM_REFUSED"),
            ("ftp://registry.example", "INVALID_ARGUMENT"),
            ("registry.example", "INVALID_ARGUMENT"),
            ("https://registry.example/v2/some/path", "INVALID_ARGUMENT"),
            ("https://user:pw@registry.example", "INVALID_ARGUMENT"),
            ("https://registry.example?x=1", "INVALID_ARGUMENT"),
        })
        {
            var (status, body) = await SetCacheAsync(open, "hub", new { url });
            Assert.True(status == HttpStatusCode.BadRequest, $"{url}: {(int)status} {body}");
            Assert.Contains(reason, body);
        }
        var (noUser, noUserBody) = await SetCacheAsync(open, "hub", new { url = "https://registry.example", password = "x" });
        Assert.Equal(HttpStatusCode.BadRequest, noUser);
        Assert.Contains("needs a username", noUserBody);
        var (badName, badNameBody) = await SetCacheAsync(open, "Bad_NS", new { url = "https://registry.example" });
        Assert.Equal(HttpStatusCode.BadRequest, badName);
        Assert.Contains("INVALID_NAME", badNameBody);
        using (var http = new HttpClient { BaseAddress = open.RestUrl })
        {
            using var missing = await http.DeleteAsync("/buildgrid/v1/namespaces/nothing/proxy-cache", Ct);
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            Assert.Contains("PROXY_CACHE_NOT_FOUND", await missing.Content.ReadAsStringAsync(Ct));
        }

        // Without the operator's AllowLoopbackUpstreams, a namespace owner cannot point a cache at the host itself (gRPC too).
        await using var strict = await OwnedHost.StartAsync("proxy-strict");
        var (loopback, loopbackBody) = await SetCacheAsync(strict, "hub", new { url = "http://127.0.0.1:5000" });
        Assert.Equal(HttpStatusCode.BadRequest, loopback);
        Assert.Contains("UPSTREAM_REFUSED", loopbackBody);
        using var channel = GrpcChannel.ForAddress(strict.GrpcUrl);
        var grpc = new BuildGrid.Registry.V1.Registry.RegistryClient(channel);
        var refused = await Assert.ThrowsAsync<RpcException>(() => grpc.SetProxyCacheAsync(
            new SetProxyCacheRequest { Namespace = "hub", Url = "http://localhost:5000" }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SetCacheAsync(strict, "hub", new { url = "https://registry.example" })).Status);
    }

    [Fact]
    public async Task A_bad_cache_in_the_settings_stops_the_start_naming_the_setting()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => OwnedHost.StartAsync("proxy-bad-settings", "--Registry:ProxyCache:hub:Url=ftp://x"));
        Assert.Contains("Registry:ProxyCache:hub:Url", error.ToString());
    }
}
