using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Identity;

/// <summary>
/// A hostile web page must not drive a local install: on the shared protected-mode host (no credentials = the admin),
/// a state-changing request from a foreign origin, or marked cross-site by the browser, is refused in every dialect's
/// own error format and creates nothing; a request addressed to a name that is not loopback (DNS rebinding) is refused
/// even for reads. The seeds' curl calls (no Origin, Host 127.0.0.1:port) and the console's own origin keep working.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class BrowserRequestTests(StandaloneFixture fixture) : IDisposable
{
    public void Dispose() => fixture.AssertNoErrorsLogged();

    static CancellationToken Ct => TestContext.Current.CancellationToken;
    const string Evil = "http://evil.example";

    async Task<(HttpStatusCode Status, JsonElement Body, string Text)> SendAsync(HttpMethod method, string path, string? body,
        params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
            request.Content = new StringContent(body, Encoding.UTF8, "text/plain");   // a "simple" request: no preflight
        foreach (var (name, value) in headers)
        {
            if (name == "Host")
                request.Headers.Host = value;
            else
                request.Headers.TryAddWithoutValidation(name, value);
        }
        using var response = await fixture.Rest.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return (response.StatusCode, text.Length > 0 && text[0] is '{' or '[' ? JsonDocument.Parse(text).RootElement.Clone() : default, text);
    }

    /// <summary>One state-changing request per dialect, and how its refusal must look there.</summary>
    public static TheoryData<string, string, string, string> Writes => new()
    {
        // dialect, method, path, body
        { "imagemarket", "POST", "/api/project/new", "{\"projectName\":\"NAME\",\"operator\":\"root\"}" },
        { "zadig", "POST", "/openapi/build", "{\"name\":\"NAME\",\"project_key\":\"p\",\"build_script\":\"id\"}" },
        { "svacer", "POST", "/api/public/admin/server/containers", "{\"action\":\"add\",\"type\":\"project\",\"name\":\"NAME\"}" },
        { "harbor", "POST", "/repositories", "{\"method\":\"DELETE\",\"repo_name\":\"NAME/app\",\"tag\":\"1\"}" },
        { "quay", "POST", "/api/v1/repository", "{\"repository\":\"app\",\"namespace\":\"NAME\",\"visibility\":\"public\",\"description\":\"d\"}" },
        { "v2", "POST", "/v2/NAME/app/blobs/uploads/", null! },
        { "rest", "POST", "/buildgrid/v1/code-hosts", "{\"name\":\"NAME\",\"type\":\"gitlab\",\"address\":\"https://git.example\"}" },
    };

    static void AssertRefused(string dialect, HttpStatusCode status, JsonElement body, string text, string expectedText)
    {
        Assert.True(status == HttpStatusCode.Forbidden, $"{dialect}: expected 403, got {(int)status} {text}");
        Assert.Contains(expectedText, text);
        switch (dialect)
        {
            case "imagemarket":
                Assert.Equal(10403, body.GetProperty("code").GetInt32());
                Assert.Equal(-1, body.GetProperty("content").GetInt32());
                break;
            case "zadig":
                Assert.Equal("error", body.GetProperty("type").GetString());
                Assert.Equal(403, body.GetProperty("code").GetInt32());
                break;
            case "svacer":
                Assert.Equal("PERMISSION_DENIED", body.GetProperty("reason").GetString());
                break;
            case "harbor":
                Assert.Equal(403, body.GetProperty("code").GetInt32());
                Assert.True(body.TryGetProperty("msg", out _), text);
                break;
            case "quay":
                Assert.Equal("insufficient_scope", body.GetProperty("error_type").GetString());
                break;
            case "v2":
                Assert.Equal("DENIED", body.GetProperty("errors")[0].GetProperty("code").GetString());
                break;
            default:
                Assert.Equal(7, body.GetProperty("code").GetInt32());
                Assert.True(body.TryGetProperty("message", out _), text);
                break;
        }
    }

    [Theory]
    [MemberData(nameof(Writes))]
    public async Task A_write_from_a_foreign_origin_is_refused_in_the_dialects_format_and_creates_nothing(string dialect, string method, string path, string? body)
    {
        var name = ImageMarketApi.UniqueName("xo").ToLowerInvariant();
        path = path.Replace("NAME", name);
        body = body?.Replace("NAME", name);
        foreach (var headers in new[]
                 {
                     new[] { ("Origin", Evil) },
                     // Another port of the same loopback address is another origin (a dev server, a hostile local page).
                     new[] { ("Origin", "http://127.0.0.1:1") },
                     new[] { ("Origin", "null") },
                     new[] { ("Sec-Fetch-Site", "cross-site") },
                     // Browsers attach cached Basic credentials to a page's requests by themselves: they do not exempt it.
                     new[] { ("Origin", Evil), ("Authorization", "Basic " + Convert.ToBase64String("admin:x"u8.ToArray())) },
                 })
        {
            var (status, json, text) = await SendAsync(new HttpMethod(method), path, body, headers);
            AssertRefused(dialect, status, json, text, "cross-origin request refused");
        }
        // A bearer token is never ambient: such a request goes on to be judged as any other (a wrong token, or a text/plain
        // body where the route reads JSON only: refused, but not by this rule).
        var (bearerStatus, _, bearerText) = await SendAsync(new HttpMethod(method), path, body, ("Origin", Evil), ("Authorization", "Bearer not-a-token"));
        Assert.True((int)bearerStatus is 400 or 401, $"{dialect}: {(int)bearerStatus} {bearerText}");
        Assert.DoesNotContain("cross-origin request refused", bearerText);

        // Nothing was created.
        switch (dialect)
        {
            case "imagemarket":
                var info = await new ImageMarketApi(fixture.Rest).InfoAsync(name);
                Assert.Equal(10008, info.Code);
                break;
            case "zadig":
                Assert.DoesNotContain(name, (await SendAsync(HttpMethod.Get, "/openapi/build?projectKey=p", null)).Text);
                break;
            case "quay":
                Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, $"/api/v1/repository/{name}/app", null)).Status);
                break;
            case "rest":
                Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, $"/buildgrid/v1/code-hosts/{name}", null)).Status);
                break;
        }
    }

    [Fact]
    public async Task The_seeds_curl_call_and_the_consoles_own_origin_still_write()
    {
        var api = new ImageMarketApi(fixture.Rest);
        var own = fixture.RestUrl.GetLeftPart(UriPartial.Authority);
        var curl = ImageMarketApi.UniqueName("curl");
        var (status, body, text) = await SendAsync(HttpMethod.Post, "/api/project/new", $"{{\"projectName\":\"{curl}\",\"operator\":\"root\"}}",
            ("Host", $"127.0.0.1:{fixture.RestUrl.Port}"));
        Assert.True(status == HttpStatusCode.OK && body.GetProperty("code").GetInt32() == 10000, text);
        Assert.Equal(10000, (await api.InfoAsync(curl)).Code);

        var console = ImageMarketApi.UniqueName("console");
        (status, body, text) = await SendAsync(HttpMethod.Post, "/api/project/new", $"{{\"projectName\":\"{console}\",\"operator\":\"root\"}}",
            ("Origin", own), ("Sec-Fetch-Site", "same-origin"));
        Assert.True(status == HttpStatusCode.OK && body.GetProperty("code").GetInt32() == 10000, text);

        // localhost is loopback too.
        (status, _, text) = await SendAsync(HttpMethod.Get, "/api/project/list", null, ("Host", $"localhost:{fixture.RestUrl.Port}"));
        Assert.True(status == HttpStatusCode.OK, text);
    }

    /// <summary>One read per dialect: in protected mode a foreign Host is refused before anything is read.</summary>
    public static TheoryData<string, string, string?> Reads => new()
    {
        { "imagemarket", "/api/project/list", null },
        { "zadig", "/openapi/build?projectKey=p", null },
        { "svacer", "/api/public/admin/server/containers", "{\"action\":\"list\",\"type\":\"project\"}" },
        { "harbor", "/projects", null },
        { "quay", "/api/v1/repository?public=true", null },
        { "v2", "/v2/_catalog", null },
        { "rest", "/buildgrid/v1/code-hosts", null },
    };

    [Theory]
    [MemberData(nameof(Reads))]
    public async Task A_request_addressed_to_a_foreign_host_name_is_refused_in_protected_mode(string dialect, string path, string? body)
    {
        var method = body is null ? HttpMethod.Get : HttpMethod.Post;
        foreach (var host in new[] { "evil.example", $"evil.example:{fixture.RestUrl.Port}", "192.0.2.99", "127.0.0.1.nip.io" })
        {
            var (status, json, text) = await SendAsync(method, path, body, ("Host", host));
            AssertRefused(dialect, status, json, text, "is not a loopback name");
        }
        var (ok, _, okText) = await SendAsync(method, path, body, ("Host", $"127.0.0.1:{fixture.RestUrl.Port}"));
        Assert.True(ok == HttpStatusCode.OK, $"{dialect}: {(int)ok} {okText}");
    }

    [Fact]
    public async Task With_an_admin_password_the_host_name_is_not_restricted_but_foreign_writes_are()
    {
        await using var host = await OwnedHost.StartAsync("xo-guarded", "--BUILDGRID_ADMIN_PASSWORD=s3cret-Pa55");
        using var http = new HttpClient { BaseAddress = host.RestUrl };
        var basic = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("admin:s3cret-Pa55"u8.ToArray()));
        using (var read = new HttpRequestMessage(HttpMethod.Get, "/api/project/list"))
        {
            read.Headers.Host = "buildgrid.internal.example";
            read.Headers.Authorization = basic;
            using var response = await http.SendAsync(read, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        using var write = new HttpRequestMessage(HttpMethod.Post, "/api/project/new")
        {
            Content = new StringContent("{\"projectName\":\"xo-basic\"}", Encoding.UTF8, "text/plain"),
        };
        write.Headers.Authorization = basic;
        write.Headers.TryAddWithoutValidation("Origin", Evil);
        using var refused = await http.SendAsync(write, Ct);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("cross-origin request refused", await refused.Content.ReadAsStringAsync(Ct));
    }
}
