using System.Net;
using System.Text.Json;
using BuildGrid.Tests.Infrastructure;
using BuildGrid.Tests.Registry;

namespace BuildGrid.Tests.Quay;

/// <summary>The repository calls of seed 003 (Quay API v1) as documented, over images pushed for real through /v2/.</summary>
[Collection(StandaloneCollection.Name)]
public sealed class QuayRepositoryTests(StandaloneFixture fixture) : IDisposable
{
    public void Dispose() => fixture.AssertNoErrorsLogged();

    QuayApi Api => new(fixture.Rest);
    static string Unique(string prefix) => prefix + Guid.NewGuid().ToString("N")[..8];

    void AssertNotFound(JsonElement body)
    {
        var expected = $$"""
            {"detail":"Not Found","error_message":"Not Found","error_type":"not_found","title":"not_found","type":"http://{{fixture.RestUrl.Authority}}/api/v1/error/not_found","status":404}
            """;
        Assert.Equal(expected.Trim(), body.GetRawText());
    }

    [Fact]
    public async Task Create_get_update_visibility_delete_as_documented()
    {
        var ns = Unique("qy");
        var created = await Api.ExpectAsync(HttpStatusCode.Created, HttpMethod.Post, "/api/v1/repository",
            """{"repository": "busybox", "visibility": "private", "description": "This is a description of the new repository.", "namespace": "NS"}""".Replace("NS", ns));
        Assert.Equal($$"""{"namespace":"{{ns}}","name":"busybox","kind":"image"}""", created.GetRawText());
        var repository = $"{ns}/busybox";

        // Duplicate and bad inputs: Quay's 400 invalid_request with the reason.
        var (status, body, _) = await Api.SendAsync(HttpMethod.Post, "/api/v1/repository", new { repository = "busybox", visibility = "private", description = "", @namespace = ns });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("Repository already exists", body.GetProperty("error_message").GetString());
        Assert.Equal("invalid_request", body.GetProperty("error_type").GetString());
        (status, body, _) = await Api.SendAsync(HttpMethod.Post, "/api/v1/repository", new { repository = "x", visibility = "secret", description = "" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("['public', 'private']", body.GetProperty("detail").GetString());
        (status, body, _) = await Api.SendAsync(HttpMethod.Post, "/api/v1/repository", new { repository = "Bad Name!", visibility = "public", description = "" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("Invalid repository name", body.GetProperty("detail").GetString());
        (status, _, _) = await Api.SendAsync(HttpMethod.Post, "/api/v1/repository", "{not json");
        Assert.Equal(HttpStatusCode.BadRequest, status);

        // Details with tags after a real push.
        await new V2Client(fixture.Rest).PushImageAsync(repository, "1.0", OciTestImage.Create("quay " + ns));
        var details = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{repository}");
        Assert.Equal(ns, details.GetProperty("namespace").GetString());
        Assert.Equal("busybox", details.GetProperty("name").GetString());
        Assert.Equal("image", details.GetProperty("kind").GetString());
        Assert.Equal("This is a description of the new repository.", details.GetProperty("description").GetString());
        Assert.False(details.GetProperty("is_public").GetBoolean());
        Assert.Equal("NORMAL", details.GetProperty("state").GetString());
        var tag = details.GetProperty("tags").GetProperty("1.0");
        Assert.StartsWith("sha256:", tag.GetProperty("manifest_digest").GetString());
        Assert.True(tag.GetProperty("size").GetInt64() > 0);
        Assert.EndsWith("-0000", tag.GetProperty("last_modified").GetString());

        // PUT description, changevisibility.
        Assert.Equal("""{"success":true}""", (await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Put, $"/api/v1/repository/{repository}",
            new { description = "This is an updated description for the repository." })).GetRawText());
        Assert.Equal("""{"success":true}""", (await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Post, $"/api/v1/repository/{repository}/changevisibility",
            new { visibility = "public" })).GetRawText());
        details = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{repository}");
        Assert.Equal("This is an updated description for the repository.", details.GetProperty("description").GetString());
        Assert.True(details.GetProperty("is_public").GetBoolean());
        (status, _, _) = await Api.SendAsync(HttpMethod.Put, $"/api/v1/repository/{repository}", new { });
        Assert.Equal(HttpStatusCode.BadRequest, status);

        // DELETE: 204 with no body; then every call on it is the documented 404.
        using (var response = await fixture.Rest.DeleteAsync($"/api/v1/repository/{repository}", TestContext.Current.CancellationToken))
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            Assert.Empty(await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        }
        AssertNotFound(await Api.ExpectAsync(HttpStatusCode.NotFound, HttpMethod.Get, $"/api/v1/repository/{repository}"));
        AssertNotFound(await Api.ExpectAsync(HttpStatusCode.NotFound, HttpMethod.Put, $"/api/v1/repository/{repository}", new { description = "x" }));
        AssertNotFound(await Api.ExpectAsync(HttpStatusCode.NotFound, HttpMethod.Post, $"/api/v1/repository/{repository}/changevisibility", new { visibility = "private" }));
        // Quay checks the namespace admin's permission and marks what is there for deletion: a second delete is 204 again.
        Assert.Equal(JsonValueKind.Undefined, (await Api.ExpectAsync(HttpStatusCode.NoContent, HttpMethod.Delete, $"/api/v1/repository/{repository}")).ValueKind);
        AssertNotFound(await Api.ExpectAsync(HttpStatusCode.NotFound, HttpMethod.Get, $"/api/v1/repository/{repository}/notification/"));
    }

    [Theory]
    [InlineData("GET", "/api/v1/repository/Upper/Case", null)]
    [InlineData("GET", "/api/v1/repository/qv/a%20b%3Fc", null)]
    [InlineData("PUT", "/api/v1/repository/qv/bad!name", """{"description": "x"}""")]
    [InlineData("DELETE", "/api/v1/repository/qv/-x", null)]
    [InlineData("POST", "/api/v1/repository/qv/Bad/changevisibility", """{"visibility": "public"}""")]
    [InlineData("GET", "/api/v1/repository/qv/Bad/notification/", null)]
    [InlineData("GET", "/api/v1/repository/qv/Bad/notification/0d2ab3a2-5a3c-4f0e-9a53-2a1f0c6e9d11", null)]
    [InlineData("POST", "/api/v1/repository/qv/Bad/notification/", """{"event": "repo_push", "method": "quay_notification", "config": {}, "eventConfig": {}}""")]
    public async Task A_name_no_repository_can_have_is_the_documented_404(string method, string path, string? body)
    {
        var (status, error, text) = await Api.SendAsync(new HttpMethod(method), path, body);
        Assert.True(status == HttpStatusCode.NotFound, $"{method} {path}: {(int)status} {text}");
        AssertNotFound(error);
    }

    [Fact]
    public async Task A_create_without_a_namespace_lands_in_the_callers_default()
    {
        var name = Unique("qd");
        var created = await Api.ExpectAsync(HttpStatusCode.Created, HttpMethod.Post, "/api/v1/repository",
            $$"""{"repository": "{{name}}", "visibility": "private", "description": "x"}""");
        Assert.Equal($$"""{"namespace":"default_cluster","name":"{{name}}","kind":"image"}""", created.GetRawText());

        // A robot may create only in its own namespace: that is its default.
        const string password = "Qu4y-default-ns";
        await using var host = await OwnedHost.StartAsync("quay-default-ns", $"--BUILDGRID_ADMIN_PASSWORD={password}");
        using var admin = new HttpClient { BaseAddress = host.RestUrl };
        admin.DefaultRequestHeaders.Authorization = new("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"admin:{password}")));
        var ns = Unique("team");
        var robot = await new QuayApi(admin).ExpectAsync(HttpStatusCode.Created, HttpMethod.Put, $"/api/v1/organization/{ns}/robots/ci", new { description = "CI" });
        using var asRobot = new HttpClient { BaseAddress = host.RestUrl };
        asRobot.DefaultRequestHeaders.Authorization = new("Bearer", robot.GetProperty("token").GetString());
        created = await new QuayApi(asRobot).ExpectAsync(HttpStatusCode.Created, HttpMethod.Post, "/api/v1/repository",
            """{"repository": "app", "visibility": "private", "description": "by the robot"}""");
        Assert.Equal($$"""{"namespace":"{{ns}}","name":"app","kind":"image"}""", created.GetRawText());
        var details = await new QuayApi(admin).ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{ns}/app");
        Assert.Equal("by the robot", details.GetProperty("description").GetString());
    }

    [Fact]
    public async Task List_filters_quota_report_and_next_page()
    {
        var ns = Unique("ql");
        await Api.CreateRepositoryAsync(ns, "empty", "public", "");
        var pushed = $"{ns}/pushed";
        var image = OciTestImage.Create("quota " + ns);
        await new V2Client(fixture.Rest).PushImageAsync(pushed, "v1", image);
        var list = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository?public=true&starred=false&namespace={ns}");
        var items = list.GetProperty("repositories").EnumerateArray().ToList();
        Assert.Equal(["empty", "pushed"], items.Select(i => i.GetProperty("name").GetString()));
        Assert.False(list.TryGetProperty("next_page", out _));
        var empty = items[0];
        foreach (var field in new[] { "namespace", "name", "description", "is_public", "kind", "state", "is_starred", "quota_report" })
            Assert.True(empty.TryGetProperty(field, out _), field);
        Assert.True(empty.GetProperty("is_public").GetBoolean());
        Assert.Equal(0, empty.GetProperty("quota_report").GetProperty("quota_bytes").GetInt64());
        Assert.Equal(JsonValueKind.Null, empty.GetProperty("quota_report").GetProperty("configured_quota").ValueKind);
        // Real bytes: the config and layer blobs of the pushed image.
        var report = items[1].GetProperty("quota_report");
        Assert.Equal(image.Config.Bytes.Length + image.Layer.Bytes.Length, report.GetProperty("quota_bytes").GetInt64());
        Assert.False(items[1].GetProperty("is_public").GetBoolean());
        Assert.Equal(JsonValueKind.Null, items[1].GetProperty("description").ValueKind);

        // A configured quota (set through the Registry API) is reported as configured_quota.
        var registry = new BuildGrid.Registry.V1.Registry.RegistryClient(fixture.Channel);
        await registry.UpdateRepositoryAsync(new() { Name = pushed, QuotaBytes = 2199023255552 }, cancellationToken: TestContext.Current.CancellationToken);
        list = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository?namespace={ns}&last_modified=true");
        var withQuota = list.GetProperty("repositories")[1];
        Assert.Equal(2199023255552, withQuota.GetProperty("quota_report").GetProperty("configured_quota").GetInt64());
        Assert.True(withQuota.GetProperty("last_modified").GetInt64() > 1_700_000_000);

        // starred: nobody starred anything here (QuayStarTests stars); no scope at all is Quay's 400.
        Assert.Empty((await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository?starred=true&namespace={ns}")).GetProperty("repositories").EnumerateArray());
        var error = await Api.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Get, "/api/v1/repository");
        Assert.Equal("namespace, starred or public are required for this API call", error.GetProperty("detail").GetString());

        // Paging: 100 per page, next_page only while more follow.
        var many = Unique("qp");
        for (var i = 0; i < 101; i++)
            await Api.CreateRepositoryAsync(many, $"r{i:D3}");
        var first = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository?namespace={many}");
        Assert.Equal(100, first.GetProperty("repositories").GetArrayLength());
        var token = first.GetProperty("next_page").GetString();
        var second = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository?namespace={many}&next_page={Uri.EscapeDataString(token!)}");
        Assert.Equal("r100", Assert.Single(second.GetProperty("repositories").EnumerateArray()).GetProperty("name").GetString());
        Assert.False(second.TryGetProperty("next_page", out _));
    }

    /// <summary>
    /// Quay's list order: by repository id, oldest first (<c>get_visible_repositories</c> orders by <c>rid</c> and pages
    /// on it), in the namespace and public modes alike; next_page goes on in that order.
    /// </summary>
    [Fact]
    public async Task The_list_is_in_creation_order_not_name_order_and_next_page_goes_on_in_it()
    {
        var ns = Unique("qo");
        string[] created = [await Api.CreateRepositoryAsync(ns, "zeta", "public"), await Api.CreateRepositoryAsync(ns, "alpha"),
            await Api.CreateRepositoryAsync(ns, "mid", "public")];
        Assert.Equal(created, Names(await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository?namespace={ns}")));
        Assert.Equal(created, Names(await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository?namespace={ns}&public=true")));
        // A later push does not move a repository: the order is its creation, not its last change.
        await new V2Client(fixture.Rest).PushImageAsync(created[0], "v1", OciTestImage.Create("order " + ns));
        Assert.Equal(created, Names(await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository?namespace={ns}&last_modified=true&popularity=true")));
        // public=true across namespaces (this caller holds a role on every repository, the public ones besides): still oldest
        // first, over every page.
        var all = await AllPagesAsync("/api/v1/repository?public=true");
        Assert.Equal(created, all.Where(n => n.StartsWith(ns + "/", StringComparison.Ordinal)));

        // 101 repositories created in descending name order: the first page is the 100 oldest (r100 … r001), the second r000.
        var many = Unique("qd");
        for (var i = 100; i >= 0; i--)
            await Api.CreateRepositoryAsync(many, $"r{i:D3}");
        var first = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository?namespace={many}");
        Assert.Equal(Enumerable.Range(1, 100).Reverse().Select(i => $"{many}/r{i:D3}"), Names(first));
        var token = first.GetProperty("next_page").GetString()!;
        var second = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository?namespace={many}&next_page={Uri.EscapeDataString(token)}");
        Assert.Equal([$"{many}/r000"], Names(second));
        Assert.False(second.TryGetProperty("next_page", out _));

        // A page token of the registry's name order is not one of Quay's: as a next_page Quay cannot decrypt, the first page.
        var registry = new BuildGrid.Registry.V1.Registry.RegistryClient(fixture.Channel);
        var byName = await registry.ListRepositoriesAsync(new() { NamePrefix = many + "/", PageSize = 1 }, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal($"{many}/r000", Assert.Single(byName.Repositories).Name);
        var fallback = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository?namespace={many}&next_page={Uri.EscapeDataString(byName.NextPageToken)}");
        Assert.Equal($"{many}/r100", Names(fallback)[0]);
        var refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await registry.ListRepositoriesAsync(
            new() { NamePrefix = many + "/", PageToken = byName.NextPageToken, Order = BuildGrid.Registry.V1.RepositoryOrder.Created },
            cancellationToken: TestContext.Current.CancellationToken));
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, refused.StatusCode);
        // And the other way: Quay's next_page does not start a name-order page somewhere.
        refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await registry.ListRepositoriesAsync(
            new() { NamePrefix = many + "/", PageToken = token }, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, refused.StatusCode);
    }

    /// <summary>"namespace/name" of each listed repository, in list order.</summary>
    static List<string> Names(JsonElement list) =>
        [.. list.GetProperty("repositories").EnumerateArray().Select(r => r.GetProperty("namespace").GetString() + "/" + r.GetProperty("name").GetString())];

    /// <summary>Every page of <paramref name="path"/>, following next_page.</summary>
    async Task<List<string>> AllPagesAsync(string path)
    {
        var list = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, path);
        var names = Names(list);
        while (list.TryGetProperty("next_page", out var next))
        {
            list = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"{path}&next_page={Uri.EscapeDataString(next.GetString()!)}");
            names.AddRange(Names(list));
        }
        return names;
    }

    /// <summary>
    /// Quay's repository name is up to 255 characters (REPOSITORY_NAME_REGEX), in a namespace of up to 255: the whole name
    /// works end to end, through Quay and /v2/; one character more is Quay's 400.
    /// </summary>
    [Fact]
    public async Task A_255_character_name_works_end_to_end_and_256_is_400()
    {
        var ns = Unique("qn") + new string('n', 245);   // 255 characters, Quay's longest namespace
        var name = new string('r', 250) + Guid.NewGuid().ToString("N")[..5];
        Assert.Equal(255, ns.Length);
        Assert.Equal(255, name.Length);
        var repository = await Api.CreateRepositoryAsync(ns, name, "public", "long");
        Assert.Equal(511, repository.Length);

        var details = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{repository}");
        Assert.Equal(name, details.GetProperty("name").GetString());
        Assert.Equal([repository], Names(await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository?namespace={ns}")));

        // Push and pull through the OCI API under the same name.
        var v2 = new V2Client(fixture.Rest);
        var image = OciTestImage.Create("long " + name);
        await v2.PushImageAsync(repository, "1.0", image);
        using (var pulled = await v2.SendAsync(HttpMethod.Get, $"/v2/{repository}/manifests/1.0",
                   configure: r => r.Headers.Accept.ParseAdd(image.Manifest.MediaType)))
        {
            Assert.Equal(HttpStatusCode.OK, pulled.StatusCode);
            Assert.Equal(image.Manifest.Bytes, await pulled.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        }
        using (var layer = await v2.SendAsync(HttpMethod.Get, $"/v2/{repository}/blobs/{image.Layer.Digest}"))
            Assert.Equal(image.Layer.Bytes, await layer.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.True((await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{repository}")).GetProperty("tags").TryGetProperty("1.0", out _));

        await Api.ExpectAsync(HttpStatusCode.NoContent, HttpMethod.Delete, $"/api/v1/repository/{repository}");
        AssertNotFound(await Api.ExpectAsync(HttpStatusCode.NotFound, HttpMethod.Get, $"/api/v1/repository/{repository}"));

        // 256 characters: Quay's 400 in its error object, for the name and for the namespace alike.
        var expected = $$"""
            {"detail":"Invalid repository name","error_message":"Invalid repository name","error_type":"invalid_request","title":"invalid_request","type":"http://{{fixture.RestUrl.Authority}}/api/v1/error/invalid_request","status":400}
            """.Trim();
        var tooLong = await Api.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/v1/repository",
            new { repository = name + "x", visibility = "public", description = "", @namespace = Unique("qn") });
        Assert.Equal(expected, tooLong.GetRawText());
        tooLong = await Api.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/v1/repository",
            new { repository = "short", visibility = "public", description = "", @namespace = ns + "x" });
        Assert.Equal(expected, tooLong.GetRawText());
        // Through /v2/ a name past what the registry holds is the spec's NAME_INVALID.
        using var refused = await v2.SendAsync(HttpMethod.Post, $"/v2/{repository}x/blobs/uploads/");
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("NAME_INVALID", await V2Client.ErrorCodeAsync(refused));
    }
}
