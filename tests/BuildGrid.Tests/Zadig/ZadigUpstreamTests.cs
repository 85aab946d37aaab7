using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Zadig;

/// <summary>
/// What a script written for the real Zadig sees where seed 002 is silent (koderover/zadig
/// pkg/microservice/aslan/core/build/service/openapi.go, common/repository/mongodb/build.go, pkg/tool/errors).
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class ZadigUpstreamTests(StandaloneFixture fixture) : IDisposable
{
    readonly ZadigApi api = new(fixture.Rest);
    public void Dispose() => fixture.AssertNoErrorsLogged();

    static string Detail(string project, string name) => $"/openapi/build/{name}/detail?projectKey={project}&serviceName=svc&serviceModule=mod";

    [Fact]
    public async Task A_build_made_without_advanced_settings_shows_zadigs_defaults()
    {
        var project = ZadigApi.Unique("zd");
        (await api.PostAsync($"/openapi/build?projectKey={project}", ZadigApi.Build(project, "plain", "true").ToJsonString())).AssertSuccess();
        var detail = await api.GetAsync(Detail(project, "plain"));
        Assert.Equal(HttpStatusCode.OK, detail.Status);
        var advanced = detail.Root.GetProperty("advanced_settings");
        Assert.Equal(60, advanced.GetProperty("timeout").GetInt32());
        Assert.Equal("""{"cpu_req":0,"cpu_limit":1000,"memory_req":0,"memory_limit":512,"gpu_limit":""}""", advanced.GetProperty("resource_spec").GetRawText());
        Assert.Equal("""{"enabled":false,"cache_dir":""}""", advanced.GetProperty("cache_setting").GetRawText());
        Assert.Equal("""[{"name":"IMAGE","description":""},{"name":"PKG_FILE","description":""}]""", detail.Root.GetProperty("outputs").GetRawText());
        var post = detail.Root.GetProperty("post_build");
        Assert.Equal("", post.GetProperty("scripts").GetString());
        Assert.Equal("""{"enabled":false,"object_storage_id":"","upload_detail":[]}""", post.GetProperty("object_storage_upload").GetRawText());
        Assert.Equal("""{"file_location":""}""", post.GetProperty("file_archive").GetRawText());
    }

    [Fact]
    public async Task Repos_carry_hidden_false()
    {
        var project = ZadigApi.Unique("zh");
        var repos = new JsonArray(new JsonObject { ["codehost_name"] = "gitlab", ["repo_namespace"] = "org", ["repo_name"] = "app", ["branch"] = "main" });
        (await api.PostAsync($"/openapi/build?projectKey={project}", ZadigApi.Build(project, "with-repo", "true", repos: repos).ToJsonString())).AssertSuccess();
        var repo = Assert.Single((await api.GetAsync(Detail(project, "with-repo"))).Root.GetProperty("repos").EnumerateArray());
        Assert.False(repo.GetProperty("hidden").GetBoolean());
    }

    [Fact]
    public async Task The_list_is_in_creation_order_and_pageNum_0_lists_every_build()
    {
        var project = ZadigApi.Unique("zo");
        foreach (var name in new[] { "zeta", "alpha", "mid" })
            (await api.PostAsync($"/openapi/build?projectKey={project}", ZadigApi.Build(project, name, "true").ToJsonString())).AssertSuccess();
        static string[] Names(ZadigApi.Answer answer) => answer.Root.GetProperty("builds").EnumerateArray().Select(b => b.GetProperty("name").GetString()!).ToArray();
        Assert.Equal(["zeta", "alpha", "mid"], Names(await api.GetAsync($"/openapi/build?projectKey={project}")));
        Assert.Equal(["alpha"], Names(await api.GetAsync($"/openapi/build?projectKey={project}&pageNum=2&pageSize=1")));
        var all = await api.GetAsync($"/openapi/build?projectKey={project}&pageNum=0&pageSize=1");
        Assert.Equal(3, all.Root.GetProperty("total").GetInt32());
        Assert.Equal(["zeta", "alpha", "mid"], Names(all));
        Assert.Equal(3, Names(await api.GetAsync($"/openapi/build?projectKey={project}&pageSize=0")).Length);
    }

    [Fact]
    public async Task A_number_or_boolean_where_a_string_belongs_is_400()
    {
        var project = ZadigApi.Unique("zt");
        foreach (var (member, value, field) in new (string, JsonNode, string)[]
                 {
                     ("name", JsonValue.Create(12345), "name"), ("build_script", JsonValue.Create(true), "build_script"),
                     ("build_os", JsonValue.Create(20.04), "build_os"),
                 })
        {
            var body = ZadigApi.Build(project, "typed", "true");
            body[member] = value;
            var answer = await api.PostAsync($"/openapi/build?projectKey={project}", body.ToJsonString());
            answer.AssertError(HttpStatusCode.BadRequest, field);
            Assert.Contains("must be a string", answer.Description);
        }
        Assert.Equal("""{"total":0,"builds":[]}""", (await api.GetAsync($"/openapi/build?projectKey={project}")).Text);
    }

    [Fact]
    public async Task Deleting_a_build_that_is_not_there_succeeds_and_updating_one_is_6521()
    {
        var project = ZadigApi.Unique("zm");
        (await api.DeleteAsync($"/openapi/build?name=never&projectKey={project}")).AssertSuccess();
        (await api.PutAsync($"/openapi/build?projectKey={project}", ZadigApi.Build(project, "never", "true").ToJsonString())).AssertModuleError(6521, "更新编译模块失败");
        (await api.GetAsync(Detail(project, "never"))).AssertModuleError(6523, "查询编译模块失败");
    }
}
