using System.Net;
using System.Text;
using System.Text.Json;
using BuildGrid.Tests.Infrastructure;
using BuildGrid.Tests.Registry;

namespace BuildGrid.Tests.Harbor;

/// <summary>The Harbor part of seed 000 over images pushed for real through /v2/: bare arrays and objects as documented.</summary>
[Collection(StandaloneCollection.Name)]
public sealed class HarborTests(StandaloneFixture fixture) : IDisposable
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    public void Dispose() => fixture.AssertNoErrorsLogged();

    async Task<JsonElement> GetJsonAsync(string path, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await fixture.Rest.GetAsync(path, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == expected, $"{path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpMethod method, string path, string body, string contentType = "application/json")
    {
        using var request = new HttpRequestMessage(method, path) { Content = new StringContent(body, Encoding.UTF8, contentType) };
        using var response = await fixture.Rest.SendAsync(request, Ct);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.Clone());
    }

    [Fact]
    public async Task Projects_repositories_tags_manifests_and_tag_delete_as_documented()
    {
        var cluster = "hb" + Guid.NewGuid().ToString("N")[..8];
        var v2 = new V2Client(fixture.Rest);
        var one = OciTestImage.Create("one " + cluster);
        var two = OciTestImage.Create("two " + cluster);
        await v2.PushImageAsync($"{cluster}/myweb", "1.0", one);
        await v2.PushImageAsync($"{cluster}/myweb", "1.2", two);
        await v2.PushImageAsync($"{cluster}/api", "1.0", one);
        await v2.PushImageAsync($"default_cluster/{cluster}-web", "1.1", two);

        // GET /projects: default_cluster always exists; a cluster appears with its first repository.
        var all = await GetJsonAsync("/projects?page=1&page_size=100&project_name=");
        Assert.Equal(JsonValueKind.Array, all.ValueKind);
        var defaultCluster = all.EnumerateArray().Single(p => p.GetProperty("name").GetString() == "default_cluster");
        Assert.Equal(1, defaultCluster.GetProperty("project_id").GetInt64());
        var mine = Assert.Single((await GetJsonAsync($"/projects?page=1&page_size=10&project_name={cluster}")).EnumerateArray());
        Assert.Equal(2, mine.GetProperty("repo_count").GetInt64());
        foreach (var field in new[] { "Togglable", "creation_time", "creation_time_str", "current_user_role_id", "deleted", "name", "owner_id",
                     "owner_name", "project_id", "public", "repo_count", "update_time" })
            Assert.True(mine.TryGetProperty(field, out _), field);
        Assert.True(mine.GetProperty("Togglable").GetBoolean());
        Assert.Equal(0, mine.GetProperty("deleted").GetInt32());
        Assert.EndsWith("Z", mine.GetProperty("creation_time").GetString());
        var projectId = mine.GetProperty("project_id").GetInt64();

        // GET /repositories by project, with q and paging.
        var repos = await GetJsonAsync($"/repositories?page=1&page_size=10&project_id={projectId}&q=");
        Assert.Equal([$"{cluster}/api", $"{cluster}/myweb"], repos.EnumerateArray().Select(r => r.GetProperty("name").GetString()));
        Assert.Equal([$"{cluster}/myweb"], (await GetJsonAsync($"/repositories?project_id={projectId}&q=web")).EnumerateArray().Select(r => r.GetProperty("name").GetString()));
        Assert.Equal([$"{cluster}/myweb"], (await GetJsonAsync($"/repositories?page=2&page_size=1&project_id={projectId}")).EnumerateArray().Select(r => r.GetProperty("name").GetString()));
        Assert.Empty((await GetJsonAsync($"/repositories?page=3&page_size=1&project_id={projectId}")).EnumerateArray());
        // Harbor's paging header: the count over all pages.
        using (var paged = await fixture.Rest.GetAsync($"/repositories?page=2&page_size=1&project_id={projectId}", Ct))
            Assert.Equal("2", Assert.Single(paged.Headers.GetValues("X-Total-Count")));
        using (var projects = await fixture.Rest.GetAsync($"/projects?page=1&page_size=10&project_name={cluster}", Ct))
            Assert.Equal("1", Assert.Single(projects.Headers.GetValues("X-Total-Count")));

        // Tags: GET as the table says, POST as the example does; a name without a cluster is in default_cluster.
        var tags = await GetJsonAsync($"/repositories/tags?page=1&page_size=10&project_id={projectId}&repo_name={cluster}/myweb");
        Assert.Equal(["1.0", "1.2"], tags.EnumerateArray().Select(t => t.GetProperty("name").GetString()));
        // A bare repo_name is in the cluster project_id names; the table's pagesize is read as page_size.
        Assert.Equal(["1.2"], (await GetJsonAsync($"/repositories/tags?page=2&pagesize=1&project_id={projectId}&repo_name=myweb"))
            .EnumerateArray().Select(t => t.GetProperty("name").GetString()));
        Assert.Single((await GetJsonAsync("/projects?page=1&pagesize=1&project_name=")).EnumerateArray());
        var (status, posted) = await SendAsync(HttpMethod.Post, $"/repositories/tags?page=1&page_size=10&project_id=1&repo_name={cluster}-web", "");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["1.1"], posted.EnumerateArray().Select(t => t.GetProperty("name").GetString()));

        // Manifests: the config blob as a JSON string, the manifest as an object.
        var manifest = await GetJsonAsync($"/repositories/manifests?repo_name={cluster}/myweb&tag=1.2");
        var config = JsonDocument.Parse(manifest.GetProperty("config").GetString()!).RootElement;
        Assert.Equal("amd64", config.GetProperty("architecture").GetString());
        Assert.Equal(two.Layer.Digest, manifest.GetProperty("manifest").GetProperty("layers")[0].GetProperty("digest").GetString());
        (status, var viaPost) = await SendAsync(HttpMethod.Post, $"/repositories/manifests?repo_name={cluster}/myweb&tag=1.0", "");
        Assert.Equal(one.Config.Digest, viaPost.GetProperty("manifest").GetProperty("config").GetProperty("digest").GetString());

        // Delete a tag: DELETE with the JSON body, and the document's POST with method=DELETE.
        (status, var deleted) = await SendAsync(HttpMethod.Delete, "/repositories", $$"""{"repoName":"1.0","projectName":"{{cluster}}/myweb"}""");
        Assert.Equal((HttpStatusCode.OK, 0, ""), (status, deleted.GetProperty("code").GetInt32(), deleted.GetProperty("msg").GetString()));
        (status, deleted) = await SendAsync(HttpMethod.Post, "/repositories", $$"""method=DELETE&{"repoName":"1.1","projectName":"{{cluster}}-web"}""");
        Assert.Equal((HttpStatusCode.OK, 0), (status, deleted.GetProperty("code").GetInt32()));
        Assert.Equal(["1.2"], (await GetJsonAsync($"/repositories/tags?repo_name={cluster}/myweb")).EnumerateArray().Select(t => t.GetProperty("name").GetString()));
        Assert.Empty((await GetJsonAsync($"/repositories/tags?repo_name={cluster}-web")).EnumerateArray());
        // The manifest of a deleted tag stays reachable by digest over /v2/ (a tag delete is not a manifest delete).
        using var byDigest = await fixture.Rest.GetAsync($"/v2/{cluster}/myweb/manifests/{one.Manifest.Digest}", Ct);
        Assert.Equal(HttpStatusCode.OK, byDigest.StatusCode);
    }

    [Theory]
    [InlineData("GET", "/repositories/manifests?repo_name=default_cluster/nope&tag=1", "", HttpStatusCode.NotFound)]
    [InlineData("GET", "/repositories/manifests?repo_name=default_cluster/nope", "", HttpStatusCode.BadRequest)]
    [InlineData("GET", "/repositories/tags?repo_name=", "", HttpStatusCode.BadRequest)]
    [InlineData("GET", "/repositories?project_id=abc", "", HttpStatusCode.BadRequest)]
    [InlineData("GET", "/repositories?project_id=999999", "", HttpStatusCode.NotFound)]
    [InlineData("GET", "/projects?page=0", "", HttpStatusCode.BadRequest)]
    [InlineData("GET", "/projects?page_size=-3", "", HttpStatusCode.BadRequest)]
    [InlineData("DELETE", "/repositories", """{"repoName":"9.9","projectName":"no_such_cluster/none"}""", HttpStatusCode.NotFound)]
    [InlineData("DELETE", "/api/repositories?repo_name=no_such_cluster/none&tag=1", "", HttpStatusCode.NotFound)]
    [InlineData("DELETE", "/api/repositories?repo_name=default_cluster/none", "", HttpStatusCode.NotFound)]
    [InlineData("DELETE", "/api/repositories?repo_name=", "", HttpStatusCode.BadRequest)]
    // Harbor: project_id missing, unreadable or not positive is 400 "invalid project_id".
    [InlineData("GET", "/repositories", "", HttpStatusCode.BadRequest)]
    [InlineData("GET", "/api/repositories?project_id=0", "", HttpStatusCode.BadRequest)]
    [InlineData("GET", "/api/repositories?project_id=-1", "", HttpStatusCode.BadRequest)]
    [InlineData("GET", "/api/repositories/manifests?repo_name=default_cluster/x&tag=1&version=v3", "", HttpStatusCode.BadRequest)]
    [InlineData("GET", "/api/repositories/tags?repo_name=no_such_cluster/x", "", HttpStatusCode.NotFound)]
    [InlineData("GET", "/api/projects?is_public=yes", "", HttpStatusCode.BadRequest)]
    [InlineData("GET", "/api/projects?page=0", "", HttpStatusCode.BadRequest)]
    [InlineData("DELETE", "/repositories", """{"projectName":"default_cluster/none"}""", HttpStatusCode.BadRequest)]
    [InlineData("DELETE", "/repositories", """{"repoName":"1","projectName":"Bad/../Name"}""", HttpStatusCode.BadRequest)]
    [InlineData("POST", "/repositories", """{"repoName":"1","projectName":"default_cluster/x"}""", HttpStatusCode.MethodNotAllowed)]
    [InlineData("GET", "/repositories/nothing", "", HttpStatusCode.NotFound)]
    [InlineData("GET", "/api/repositories/nothing", "", HttpStatusCode.NotFound)]
    // Bodies the lenient reader refuses are the caller's mistake (the hostile campaign found them answered 500).
    [InlineData("DELETE", "/repositories", "[1,2,3]", HttpStatusCode.BadRequest)]
    [InlineData("DELETE", "/repositories", """{"repoName":true,"projectName":"default_cluster/x"}""", HttpStatusCode.BadRequest)]
    [InlineData("POST", "/repositories/tags", """{"repo_name":["a"]}""", HttpStatusCode.BadRequest)]
    [InlineData("POST", "/repositories/manifests", """{"repo_name":"x","tag":""", HttpStatusCode.BadRequest)]
    public async Task Errors_are_code_and_msg_with_the_http_status(string method, string path, string body, HttpStatusCode expected)
    {
        var (status, error) = await SendAsync(new HttpMethod(method), path, body);
        Assert.Equal(expected, status);
        Assert.Equal((int)expected, error.GetProperty("code").GetInt32());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("msg").GetString()));
    }
}
