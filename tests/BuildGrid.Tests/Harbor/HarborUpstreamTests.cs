using System.Net;
using System.Text.Json;
using BuildGrid.Tests.Infrastructure;
using BuildGrid.Tests.Registry;

namespace BuildGrid.Tests.Harbor;

/// <summary>
/// What a script written for the real Harbor sees where seed 000 is silent: Harbor's /api prefix, its DELETE form, its
/// paging headers, project order and filters (Harbor 0.5's src/ui/api), and the read and delete calls of /api/v2.0.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class HarborUpstreamTests(StandaloneFixture fixture) : IDisposable
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    public void Dispose() => fixture.AssertNoErrorsLogged();

    async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> SendAsync(HttpMethod method, string path)
    {
        using var request = new HttpRequestMessage(method, path);
        var response = await fixture.Rest.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), response);
    }

    async Task<(JsonElement Body, HttpResponseMessage Response)> GetAsync(string path)
    {
        var (status, body, response) = await SendAsync(HttpMethod.Get, path);
        Assert.True(status == HttpStatusCode.OK, $"{path}: {(int)status} {body}");
        return (body, response);
    }

    static string[] Names(JsonElement array) => array.EnumerateArray().Select(e => e.GetProperty("name").GetString()!).ToArray();

    static string? Link(HttpResponseMessage response) => response.Headers.TryGetValues("Link", out var values) ? string.Join(", ", values) : null;

    [Fact]
    public async Task Seed_routes_answer_under_api_with_harbor_paging_order_and_delete_form()
    {
        var stem = "hu" + Guid.NewGuid().ToString("N")[..8];
        var v2 = new V2Client(fixture.Rest);
        var image = OciTestImage.Create("upstream " + stem);
        // Pushed in reverse order of their names: Harbor lists projects by name, not by creation.
        await v2.PushImageAsync($"{stem}-c/web", "1.0", image);
        await v2.PushImageAsync($"{stem}-b/web", "1.0", image);
        await v2.PushImageAsync($"{stem}-a/web", "1.0", image);
        await v2.PushImageAsync($"{stem}-a/api", "1.0", image);
        await v2.PushImageAsync($"{stem}-a/api", "1.1", image);
        await v2.PushImageAsync($"{stem}-a/api", "1.2", image);

        var (projects, response) = await GetAsync($"/api/projects?project_name={stem}&page=1&page_size=2");
        Assert.Equal([$"{stem}-a", $"{stem}-b"], Names(projects));
        Assert.Equal("3", Assert.Single(response.Headers.GetValues("X-Total-Count")));
        Assert.Equal($"</api/projects?page=2&page_size=2&project_name={stem}>; rel=\"next\"", Link(response));
        (projects, response) = await GetAsync($"/api/projects?project_name={stem}&page=2&page_size=2");
        Assert.Equal([$"{stem}-c"], Names(projects));
        Assert.Equal($"</api/projects?page=1&page_size=2&project_name={stem}>; rel=\"prev\"", Link(response));
        // The last page has no next link; a single page none at all.
        (_, response) = await GetAsync($"/projects?project_name={stem}");
        Assert.Null(Link(response));
        // is_public=1: only public projects (these are private: pushed by an owner, never made public).
        (projects, _) = await GetAsync($"/api/projects?project_name={stem}&is_public=1");
        Assert.Empty(projects.EnumerateArray());
        (projects, _) = await GetAsync($"/api/projects?project_name={stem}&is_public=0");
        Assert.Equal(3, projects.GetArrayLength());
        var projectA = projects[0].GetProperty("project_id").GetInt64();

        // Repositories: Link while pages follow.
        (var repos, response) = await GetAsync($"/api/repositories?project_id={projectA}&page=1&page_size=1");
        Assert.Equal([$"{stem}-a/api"], Names(repos));
        Assert.Contains("rel=\"next\"", Link(response));

        // Tags under /api, with a next link while pages follow; a repository the registry does not know, in a project
        // that exists, has no tags (Harbor's listTag treats the registry's 404 as empty).
        (var tags, response) = await GetAsync($"/api/repositories/tags?repo_name={stem}-a/api&page=1&page_size=2");
        Assert.Equal(["1.0", "1.1"], Names(tags));
        Assert.Equal($"</api/repositories/tags?page=2&page_size=2&repo_name={stem}-a%2Fapi>; rel=\"next\"", Link(response));
        (tags, response) = await GetAsync($"/api/repositories/tags?repo_name={stem}-a/api&page=2&page_size=2");
        Assert.Equal(["1.2"], Names(tags));
        Assert.Null(Link(response));
        (tags, _) = await GetAsync($"/api/repositories/tags?repo_name={stem}-a/nothing-here");
        Assert.Empty(tags.EnumerateArray());

        // Manifests: version v2 (the default) and v1 answer; the manifest is the one pushed.
        foreach (var version in new[] { "", "&version=v2", "&version=v1" })
        {
            var (manifest, _) = await GetAsync($"/api/repositories/manifests?repo_name={stem}-a/api&tag=1.0{version}");
            Assert.Equal(image.Layer.Digest, manifest.GetProperty("manifest").GetProperty("layers")[0].GetProperty("digest").GetString());
        }

        // Harbor's DELETE ?repo_name=&tag=; deleting the same tag twice succeeds both times.
        for (var i = 0; i < 2; i++)
        {
            var (status, body, _) = await SendAsync(HttpMethod.Delete, $"/api/repositories?repo_name={stem}-a/api&tag=1.1");
            Assert.True(status == HttpStatusCode.OK, $"delete #{i + 1}: {(int)status} {body}");
        }
        // The seed's JSON form twice as well.
        for (var i = 0; i < 2; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Delete, "/repositories")
            {
                Content = new StringContent($$"""{"repoName":"1.2","projectName":"{{stem}}-a/api"}""", System.Text.Encoding.UTF8, "application/json"),
            };
            using var deleted = await fixture.Rest.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }
        (tags, _) = await GetAsync($"/api/repositories/tags?repo_name={stem}-a/api");
        Assert.Equal(["1.0"], Names(tags));
        // Without a tag: every tag of the repository.
        var (all, _, _) = await SendAsync(HttpMethod.Delete, $"/api/repositories?repo_name={stem}-a/web");
        Assert.Equal(HttpStatusCode.OK, all);
        (tags, _) = await GetAsync($"/api/repositories/tags?repo_name={stem}-a/web");
        Assert.Empty(tags.EnumerateArray());
    }

    [Fact]
    public async Task Api_v2_reads_and_deletes_projects_repositories_and_artifacts()
    {
        var project = "hv" + Guid.NewGuid().ToString("N")[..8];
        var v2 = new V2Client(fixture.Rest);
        var one = OciTestImage.Create("v2 one " + project);
        var two = OciTestImage.Create("v2 two " + project);
        await v2.PushImageAsync($"{project}/team/web", "1.0", one);
        await v2.PushImageAsync($"{project}/team/web", "latest", one);
        await v2.PushImageAsync($"{project}/team/web", "2.0", two);
        await v2.PushImageAsync($"{project}/api", "1.0", one);

        var (projects, response) = await GetAsync($"/api/v2.0/projects?name={project}");
        var listed = Assert.Single(projects.EnumerateArray());
        Assert.Equal(project, listed.GetProperty("name").GetString());
        Assert.Equal("false", listed.GetProperty("metadata").GetProperty("public").GetString());
        Assert.Equal(2, listed.GetProperty("repo_count").GetInt64());
        Assert.Equal("1", Assert.Single(response.Headers.GetValues("X-Total-Count")));
        var (single, _) = await GetAsync($"/api/v2.0/projects/{project}");
        Assert.Equal(listed.GetProperty("project_id").GetInt64(), single.GetProperty("project_id").GetInt64());

        (var repos, response) = await GetAsync($"/api/v2.0/projects/{project}/repositories?page_size=1");
        Assert.Equal([$"{project}/api"], Names(repos));
        Assert.Contains("rel=\"next\"", Link(response));
        (repos, _) = await GetAsync($"/api/v2.0/projects/{project}/repositories?q=name%3D~web");
        Assert.Equal([$"{project}/team/web"], Names(repos));

        // A repository name with a slash is encoded twice in the path, as Harbor asks.
        var (artifacts, _) = await GetAsync($"/api/v2.0/projects/{project}/repositories/team%252Fweb/artifacts?with_tag=true");
        Assert.Equal([two.Manifest.Digest, one.Manifest.Digest], artifacts.EnumerateArray().Select(a => a.GetProperty("digest").GetString()));
        Assert.Equal(["2.0"], Names(artifacts[0].GetProperty("tags")));
        Assert.Equal(["1.0", "latest"], Names(artifacts[1].GetProperty("tags")).Order(StringComparer.Ordinal));
        Assert.Equal("IMAGE", artifacts[0].GetProperty("type").GetString());
        var (artifact, _) = await GetAsync($"/api/v2.0/projects/{project}/repositories/team%252Fweb/artifacts/latest");
        Assert.Equal(one.Manifest.Digest, artifact.GetProperty("digest").GetString());

        // Delete a tag, then an artifact (its tags), then a repository.
        var (status, body, _) = await SendAsync(HttpMethod.Delete, $"/api/v2.0/projects/{project}/repositories/team%252Fweb/artifacts/{one.Manifest.Digest}/tags/latest");
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {body}");
        var (tags, _) = await GetAsync($"/api/v2.0/projects/{project}/repositories/team%252Fweb/artifacts/{one.Manifest.Digest}/tags");
        Assert.Equal(["1.0"], Names(tags));
        (status, _, _) = await SendAsync(HttpMethod.Delete, $"/api/v2.0/projects/{project}/repositories/team%252Fweb/artifacts/2.0");
        Assert.Equal(HttpStatusCode.OK, status);
        (artifacts, _) = await GetAsync($"/api/v2.0/projects/{project}/repositories/team%252Fweb/artifacts");
        Assert.Equal([one.Manifest.Digest], artifacts.EnumerateArray().Select(a => a.GetProperty("digest").GetString()));
        (status, _, _) = await SendAsync(HttpMethod.Delete, $"/api/v2.0/projects/{project}/repositories/api");
        Assert.Equal(HttpStatusCode.OK, status);
        (repos, _) = await GetAsync($"/api/v2.0/projects/{project}/repositories");
        Assert.Equal([$"{project}/team/web"], Names(repos));

        // Errors in Harbor 2's shape.
        foreach (var (path, expected, code) in new[]
                 {
                     ($"/api/v2.0/projects/{project}-none", HttpStatusCode.NotFound, "NOT_FOUND"),
                     ($"/api/v2.0/projects/{project}/repositories/nope", HttpStatusCode.NotFound, "NOT_FOUND"),
                     ($"/api/v2.0/projects/{project}/repositories/team%252Fweb/artifacts/9.9", HttpStatusCode.NotFound, "NOT_FOUND"),
                     ($"/api/v2.0/projects?page=-1", HttpStatusCode.BadRequest, "BAD_REQUEST"),
                     ($"/api/v2.0/projects?page=abc", HttpStatusCode.BadRequest, "BAD_REQUEST"),
                     ($"/api/v2.0/projects/{project}/repositories?q=bogus", HttpStatusCode.BadRequest, "BAD_REQUEST"),
                 })
        {
            var (errorStatus, error, _) = await SendAsync(HttpMethod.Get, path);
            Assert.True(errorStatus == expected, $"{path}: {(int)errorStatus} {error}");
            var first = Assert.Single(error.GetProperty("errors").EnumerateArray());
            Assert.Equal(code, first.GetProperty("code").GetString());
            Assert.False(string.IsNullOrEmpty(first.GetProperty("message").GetString()));
        }
    }
}
