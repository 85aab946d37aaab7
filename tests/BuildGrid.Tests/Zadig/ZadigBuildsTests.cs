using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Zadig;

/// <summary>
/// Seed 002 (Zadig OpenAPI builds) through REST on a standalone host: every call with the document's own bodies, the
/// list's paging defaults, the detail's full spec, credential protection, template-made builds following their
/// template, and bad input answered in Zadig's error shape.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class ZadigBuildsTests(StandaloneFixture fixture) : IDisposable
{
    readonly ZadigApi api = new(fixture.Rest);
    readonly BuildDefinitions.BuildDefinitionsClient grpc = new(fixture.Channel);
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => fixture.AssertNoErrorsLogged();

    /// <summary>The body of "新建构建" and "更新构建", verbatim (project "yaml", build "api-test": only this class uses them).</summary>
    public const string SeedCreateBody = """
{
"build_os": "ubuntu 20.04",
"build_script": "#!/bin/bash\nset -e\necho 'hello from api'\ncd $REPONAME_0\nmake build-$SERVICE",
"docker_build_step": {
"build_args": "--build-arg service=$SERVICE",
"build_context_dir": "$REPONAME_0",
"dockerfile_directory": "$REPONAME_0/Dockerfile",
"dockerfile_source": "local",
"enable_buildkit": true,
"platforms": "linux/amd64",
"template_name": ""
},
"infrastructure": "kubernetes",
"installs": [
{
"name": "go",
"version": "1.20.7"
}
],
"name": "api-test",
"parameters": [
{
"choice_option": [
"a",
"b",
"c"
],
"choice_value": [
"a",
"b"
],
"default_value": "a",
"description": "a multi-select var",
"is_credential": false,
"key": "aa",
"type": "multi-select"
},
{
"default_value": "abc123",
"description": "a string values",
"is_credential": true,
"key": "bb",
"type": "string"
}
],
"project_key": "yaml",
"repo_info": [
{
"branch": "main",
"codehost_name": "gitlab",
"repo_name": "multi-service-demo",
"repo_namespace": "kr-test-org1"
}
],
"script_type": "shell",
"services": [
{
"service_module": "service1",
"service_name": "service1"
},
{
"service_module": "service2",
"service_name": "service2"
}
],
"advanced_settings": {
"cache_setting": {
"cache_dir": "$WORKSPACE",
"enabled": true
},
"cluster_name": "local-20250523164625",
"custom_annotations": [
{
"key": "test-a",
"value": "abc"
}
],
"custom_labels": [
{
"key": "test-a",
"value": "abc"
}
],
"outputs": [
"bb"
],
"privileged_mode": false,
"resource_spec": {
"cpu_limit": 1000,
"cpu_req": 100,
"memory_limit": 2000,
"memory_req": 200
},
"storages": {
"enabled": true,
"storages_properties": [
{
"access_mode": "ReadOnlyMany",
"is_temporary": true,
"mount_path": "/workspace",
"provision_type": "dynamic",
"pvc": "share-storage-cfs-10",
"storage_class": "cfs",
"storage_size_in_gib": 2,
"subpath": "$PROJECT"
}
]
},
"strategy_name": "优先调度",
"timeout": 30,
"use_host_docker_daemon": false
}
}
""";

    /// <summary>The body of "使用模板新建构建" and "更新从模版创建的构建", verbatim (project "demo").</summary>
    public const string SeedTemplateBody = """
{
"name": "demo-build",
"project_key": "demo",
"template_name": "demo-template",
"target_services": [
{
"service_module": "aslan",
"service_name": "zadigx",
"repo_info": [
{
"codehost_name": "github-demo",
"repo_namespace": "kr-test-org",
"repo_name": "zadig",
"branch": "main"
}
],
"inputs": [
{
"key": "name",
"value": "admin"
},
{
"key": "password",
"value": "zadigx"
}
]
}
]
}
""";

    [Fact]
    public async Task Seed_create_list_detail_update_and_delete_answer_as_documented()
    {
        (await api.PostAsync("/openapi/build?projectKey=yaml", SeedCreateBody)).AssertSuccess();
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        var list = await api.GetAsync("/openapi/build?projectKey=yaml&pageNum=1&pageSize=20");
        Assert.Equal(HttpStatusCode.OK, list.Status);
        Assert.Equal(["total", "builds"], list.Root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(1, list.Root.GetProperty("total").GetInt32());
        var item = Assert.Single(list.Root.GetProperty("builds").EnumerateArray());
        Assert.Equal(["name", "project_key", "source", "update_by", "update_time", "target_services"], item.EnumerateObject().Select(p => p.Name));
        Assert.Equal("api-test", item.GetProperty("name").GetString());
        Assert.Equal("yaml", item.GetProperty("project_key").GetString());
        Assert.Equal("zadig", item.GetProperty("source").GetString());
        Assert.Equal("admin", item.GetProperty("update_by").GetString());
        Assert.InRange(item.GetProperty("update_time").GetInt64(), before - 60, before + 5);
        Assert.Equal("""[{"service_name":"service1","service_module":"service1"},{"service_name":"service2","service_module":"service2"}]""",
            item.GetProperty("target_services").GetRawText());

        var detail = await api.GetAsync("/openapi/build/api-test/detail?projectKey=yaml&serviceName=service1&serviceModule=service1");
        Assert.Equal(HttpStatusCode.OK, detail.Status);
        var d = detail.Root;
        Assert.Equal("yaml", d.GetProperty("project_key").GetString());
        Assert.Equal("api-test", d.GetProperty("name").GetString());
        Assert.Equal("zadig", d.GetProperty("source").GetString());
        Assert.Equal("", d.GetProperty("template_name").GetString());
        Assert.Equal("kubernetes", d.GetProperty("infrastructure").GetString());
        Assert.Equal("shell", d.GetProperty("script_type").GetString());
        Assert.Equal("#!/bin/bash\nset -e\necho 'hello from api'\ncd $REPONAME_0\nmake build-$SERVICE", d.GetProperty("build_script").GetString());
        var repo = Assert.Single(d.GetProperty("repos").EnumerateArray());
        Assert.Equal("kr-test-org1", repo.GetProperty("repo_owner").GetString());
        Assert.Equal("multi-service-demo", repo.GetProperty("repo_name").GetString());
        Assert.Equal("main", repo.GetProperty("branch").GetString());
        Assert.Equal("gitlab", repo.GetProperty("codehost_name").GetString());
        Assert.Equal("origin", repo.GetProperty("remote_name").GetString());
        Assert.Equal("ubuntu 20.04", d.GetProperty("build_env").GetProperty("basic_image_label").GetString());
        Assert.Equal("""[{"name":"go","version":"1.20.7"}]""", d.GetProperty("build_env").GetProperty("installs").GetRawText());
        var advanced = d.GetProperty("advanced_settings");
        Assert.Equal("local-20250523164625", advanced.GetProperty("cluster_name").GetString());
        Assert.Equal("优先调度", advanced.GetProperty("strategy_name").GetString());
        Assert.Equal(30, advanced.GetProperty("timeout").GetInt32());
        Assert.Equal("""{"cpu_req":100,"cpu_limit":1000,"memory_req":200,"memory_limit":2000,"gpu_limit":""}""", advanced.GetProperty("resource_spec").GetRawText());
        Assert.False(advanced.GetProperty("use_host_docker_daemon").GetBoolean());
        Assert.False(advanced.GetProperty("privileged_mode").GetBoolean());
        Assert.Equal("""{"enabled":true,"cache_dir":"$WORKSPACE"}""", advanced.GetProperty("cache_setting").GetRawText());
        Assert.Equal("""{"enabled":true,"storages_properties":[{"access_mode":"ReadOnlyMany","is_temporary":true,"mount_path":"/workspace","provision_type":"dynamic","pvc":"share-storage-cfs-10","storage_class":"cfs","storage_size_in_gib":2,"subpath":"$PROJECT"}]}""",
            advanced.GetProperty("storages").GetRawText());
        Assert.Equal("""[{"key":"test-a","value":"abc"}]""", advanced.GetProperty("custom_annotations").GetRawText());
        Assert.Equal("""[{"key":"test-a","value":"abc"}]""", advanced.GetProperty("custom_labels").GetRawText());
        // Zadig starts every build's outputs with IMAGE and PKG_FILE (build/service/openapi.go).
        Assert.Equal("""[{"name":"IMAGE","description":""},{"name":"PKG_FILE","description":""},{"name":"bb","description":""}]""", d.GetProperty("outputs").GetRawText());
        var parameters = d.GetProperty("parameters").EnumerateArray().ToArray();
        Assert.Equal("aa", parameters[0].GetProperty("key").GetString());
        Assert.Equal("multi-select", parameters[0].GetProperty("type").GetString());
        Assert.Equal("a", parameters[0].GetProperty("value").GetString());
        Assert.Equal("""["a","b","c"]""", parameters[0].GetProperty("choice_option").GetRawText());
        Assert.Equal("""["a","b"]""", parameters[0].GetProperty("choice_value").GetRawText());
        Assert.Equal("a multi-select var", parameters[0].GetProperty("description").GetString());
        Assert.Equal("bb", parameters[1].GetProperty("key").GetString());
        Assert.True(parameters[1].GetProperty("is_credential").GetBoolean());
        Assert.Equal("******", parameters[1].GetProperty("value").GetString());
        Assert.DoesNotContain("abc123", detail.Text);
        Assert.Equal("""{"work_dir":"$REPONAME_0","docker_file":"$REPONAME_0/Dockerfile","build_args":"--build-arg service=$SERVICE","source":"local","template_name":"","enable_buildkit":true,"platforms":"linux/amd64"}""",
            d.GetProperty("post_build").GetProperty("docker_build").GetRawText());
        // The credential is stored encrypted: the database file never holds it in clear.
        Assert.DoesNotContain("abc123", System.Text.Encoding.UTF8.GetString(await File.ReadAllBytesAsync(Path.Combine(fixture.DataDir, "builds.db"), Ct)));

        // Update: the document's body verbatim, then a change that sends the masked credential back (it keeps its value).
        (await api.PutAsync("/openapi/build?projectKey=yaml", SeedCreateBody)).AssertSuccess();
        var changed = JsonNode.Parse(SeedCreateBody)!.AsObject();
        changed["advanced_settings"]!["timeout"] = 45;
        changed["parameters"]![1]!["default_value"] = "******";
        changed["build_script"] = "echo changed";
        (await api.PutAsync("/openapi/build?projectKey=yaml", changed.ToJsonString())).AssertSuccess();
        var updated = await api.GetAsync("/openapi/build/api-test/detail?projectKey=yaml&serviceName=service2&serviceModule=service2");
        Assert.Equal(45, updated.Root.GetProperty("advanced_settings").GetProperty("timeout").GetInt32());
        Assert.Equal("echo changed", updated.Root.GetProperty("build_script").GetString());
        var definition = await grpc.GetDefinitionAsync(new GetDefinitionRequest { ProjectKey = "yaml", Name = "api-test" }, cancellationToken: Ct);
        Assert.Equal("******", definition.Parameters[1].DefaultValue);

        (await api.DeleteAsync("/openapi/build?name=api-test&projectKey=yaml")).AssertSuccess();
        // Zadig's module errors for a build that is gone: HTTP 400 with 6523 (detail) and 6521 (update); a delete succeeds.
        (await api.GetAsync("/openapi/build/api-test/detail?projectKey=yaml&serviceName=service1&serviceModule=service1")).AssertModuleError(6523, "查询编译模块失败");
        (await api.DeleteAsync("/openapi/build?name=api-test&projectKey=yaml")).AssertSuccess();
        (await api.PutAsync("/openapi/build?projectKey=yaml", SeedCreateBody)).AssertModuleError(6521, "更新编译模块失败");
        Assert.Equal("""{"total":0,"builds":[]}""", (await api.GetAsync("/openapi/build?projectKey=yaml")).Text);
    }

    [Fact]
    public async Task Seed_template_builds_take_script_and_settings_from_the_template_and_follow_its_updates()
    {
        var template = new JsonObject
        {
            ["name"] = "demo-template",
            ["infrastructure"] = "vm",
            ["build_os"] = "ubuntu 22.04",
            ["script_type"] = "shell",
            ["build_script"] = "echo v1 $name",
            ["parameters"] = new JsonArray(
                new JsonObject { ["key"] = "name", ["type"] = "string", ["default_value"] = "nobody" },
                new JsonObject { ["key"] = "password", ["type"] = "string", ["is_credential"] = true, ["default_value"] = "" }),
            ["advanced_settings"] = new JsonObject { ["timeout"] = 15, ["outputs"] = new JsonArray("name") },
        };
        var created = await api.JsonAsync(HttpMethod.Post, "/buildgrid/v1/build-templates", template.ToJsonString());
        Assert.True(created.Status == HttpStatusCode.OK, created.Text);

        (await api.PostAsync("/openapi/build?source=template", SeedTemplateBody)).AssertSuccess();
        var detail = await api.GetAsync("/openapi/build/demo-build/detail?projectKey=demo&serviceName=zadigx&serviceModule=aslan");
        Assert.Equal(HttpStatusCode.OK, detail.Status);
        Assert.Equal("demo-template", detail.Root.GetProperty("template_name").GetString());
        Assert.Equal("echo v1 $name", detail.Root.GetProperty("build_script").GetString());
        Assert.Equal(15, detail.Root.GetProperty("advanced_settings").GetProperty("timeout").GetInt32());
        Assert.Equal("""[{"service_name":"zadigx","service_module":"aslan"}]""", detail.Root.GetProperty("target_services").GetRawText());
        var repo = Assert.Single(detail.Root.GetProperty("repos").EnumerateArray());
        Assert.Equal("github-demo", repo.GetProperty("codehost_name").GetString());
        Assert.Equal("kr-test-org", repo.GetProperty("repo_owner").GetString());
        var parameters = detail.Root.GetProperty("parameters").EnumerateArray().ToArray();
        Assert.Equal("admin", parameters[0].GetProperty("value").GetString());
        Assert.Equal("******", parameters[1].GetProperty("value").GetString());
        Assert.DoesNotContain("zadigx\"", detail.Text.Replace("\"service_name\":\"zadigx\"", ""));

        var list = await api.GetAsync("/openapi/build?projectKey=demo");
        Assert.Equal("""[{"service_name":"zadigx","service_module":"aslan"}]""",
            list.Root.GetProperty("builds")[0].GetProperty("target_services").GetRawText());

        // The template changes: the build follows without being touched.
        template["build_script"] = "echo v2 $name";
        var updated = await api.JsonAsync(HttpMethod.Put, "/buildgrid/v1/build-templates/demo-template", template.ToJsonString());
        Assert.True(updated.Status == HttpStatusCode.OK, updated.Text);
        detail = await api.GetAsync("/openapi/build/demo-build/detail?projectKey=demo&serviceName=zadigx&serviceModule=aslan");
        Assert.Equal("echo v2 $name", detail.Root.GetProperty("build_script").GetString());

        // Update from the template (the document's body verbatim, then new inputs).
        (await api.PutAsync("/openapi/build/demo-build/template?projectKey=demo", SeedTemplateBody)).AssertSuccess();
        var body = JsonNode.Parse(SeedTemplateBody)!.AsObject();
        body["target_services"]![0]!["inputs"]![0]!["value"] = "root";
        body["target_services"]![0]!["inputs"]![1]!["value"] = "******";
        (await api.PutAsync("/openapi/build/demo-build/template?projectKey=demo", body.ToJsonString())).AssertSuccess();
        detail = await api.GetAsync("/openapi/build/demo-build/detail?projectKey=demo&serviceName=zadigx&serviceModule=aslan");
        Assert.Equal("root", detail.Root.GetProperty("parameters")[0].GetProperty("value").GetString());
        (await api.PutAsync("/openapi/build/other-name/template?projectKey=demo", SeedTemplateBody)).AssertError(HttpStatusCode.BadRequest, "name");

        // A template in use stays; once its builds are gone it can be deleted.
        var inUse = await api.JsonAsync(HttpMethod.Delete, "/buildgrid/v1/build-templates/demo-template");
        Assert.Equal(HttpStatusCode.BadRequest, inUse.Status);
        Assert.Contains("BUILD_TEMPLATE_IN_USE", inUse.Text);
        (await api.DeleteAsync("/openapi/build?name=demo-build&projectKey=demo")).AssertSuccess();
        Assert.Equal(HttpStatusCode.OK, (await api.JsonAsync(HttpMethod.Delete, "/buildgrid/v1/build-templates/demo-template")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await api.JsonAsync(HttpMethod.Get, "/buildgrid/v1/build-templates/demo-template")).Status);
        var missing = await api.PostAsync("/openapi/build?source=template", SeedTemplateBody);
        missing.AssertError(HttpStatusCode.NotFound, "template_name");
        Assert.Equal("BUILD_TEMPLATE_NOT_FOUND", missing.Reason);
    }

    [Fact]
    public async Task The_list_pages_by_name_with_defaults_1_and_20()
    {
        var project = ZadigApi.Unique("page");
        for (var i = 0; i < 23; i++)
            (await api.PostAsync($"/openapi/build?projectKey={project}", ZadigApi.Build(project, $"b{i:00}", "true").ToJsonString())).AssertSuccess();
        var first = await api.GetAsync($"/openapi/build?projectKey={project}");
        Assert.Equal(23, first.Root.GetProperty("total").GetInt32());
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"b{i:00}"), first.Root.GetProperty("builds").EnumerateArray().Select(b => b.GetProperty("name").GetString()));
        var second = await api.GetAsync($"/openapi/build?projectKey={project}&pageNum=2");
        Assert.Equal(["b20", "b21", "b22"], second.Root.GetProperty("builds").EnumerateArray().Select(b => b.GetProperty("name").GetString()));
        var small = await api.GetAsync($"/openapi/build?projectKey={project}&pageNum=3&pageSize=5");
        Assert.Equal(["b10", "b11", "b12", "b13", "b14"], small.Root.GetProperty("builds").EnumerateArray().Select(b => b.GetProperty("name").GetString()));
        var beyond = await api.GetAsync($"/openapi/build?projectKey={project}&pageNum=9");
        Assert.Equal(23, beyond.Root.GetProperty("total").GetInt32());
        Assert.Empty(beyond.Root.GetProperty("builds").EnumerateArray());
    }

    public static TheoryData<string, string, string> BadBodies => new()
    {
        { "name", "\"\"", "name" },
        { "infrastructure", "\"k8s\"", "infrastructure" },
        { "build_os", "\"\"", "build_os" },
        { "script_type", "\"python\"", "script_type" },
        { "build_script", "\"\"", "build_script" },
        { "services", "[]", "services" },
        { "services", "[{\"service_name\":\"a\"}]", "services[0].service_module" },
        { "parameters", "[{\"key\":\"A\",\"type\":\"number\",\"default_value\":\"1\"}]", "parameters[0].type" },
        { "parameters", "[{\"key\":\"A\",\"type\":\"choice\",\"choice_option\":[\"x\"],\"default_value\":\"y\"}]", "parameters[0].default_value" },
        { "parameters", "[{\"key\":\"1A\",\"type\":\"string\",\"default_value\":\"\"}]", "parameters[0].key" },
        { "parameters", "[{\"key\":\"A\",\"type\":\"string\",\"is_credential\":\"perhaps\"}]", "parameters[0].is_credential" },
        { "repo_info", "[{\"codehost_name\":\"gh\",\"repo_namespace\":\"o\",\"repo_name\":\"r\"}]", "repo_info[0].branch" },
        { "repo_info", "{\"codehost_name\":\"gh\"}", "repo_info" },
        { "repo_info", "[{\"codehost_name\":\"gh\",\"repo_namespace\":\"o\",\"repo_name\":\"r\",\"branch\":\"-x..y\"}]", "repo_info[0].branch" },
        { "repo_info", "[{\"codehost_name\":\"gh\",\"repo_namespace\":\"../o\",\"repo_name\":\"r\",\"branch\":\"main\"}]", "repo_info[0].repo_namespace" },
        { "docker_build_step", "{\"dockerfile_source\":\"git\",\"build_context_dir\":\".\"}", "docker_build_step.dockerfile_source" },
        { "docker_build_step", "{\"dockerfile_source\":\"local\",\"build_context_dir\":\".\"}", "docker_build_step.dockerfile_directory" },
        { "docker_build_step", "{\"dockerfile_source\":\"local\",\"enable_buildkit\":\"maybe\"}", "docker_build_step.enable_buildkit" },
        { "advanced_settings", "{\"timeout\":\"abc\"}", "advanced_settings.timeout" },
        { "advanced_settings", "{\"timeout\":5000}", "advanced_settings.timeout" },
        { "advanced_settings", "{\"resource_spec\":{\"cpu_req\":-1}}", "advanced_settings.resource_spec.cpu_req" },
        { "advanced_settings", "{\"storages\":{\"enabled\":true,\"storages_properties\":[{\"mount_path\":\"/w\",\"provision_type\":\"cloud\",\"subpath\":\"x\"}]}}", "advanced_settings.storages.storages_properties[0].provision_type" },
        { "advanced_settings", "{\"outputs\":[\"not a name\"]}", "advanced_settings.outputs[0]" },
        { "project_key", "\"other\"", "projectKey" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Bad_build_bodies_are_400_naming_the_field(string member, string json, string field)
    {
        var project = ZadigApi.Unique("bad");
        var body = ZadigApi.Build(project, "b", "true");
        body[member] = JsonNode.Parse(json);
        var answer = await api.PostAsync($"/openapi/build?projectKey={project}", body.ToJsonString());
        answer.AssertError(HttpStatusCode.BadRequest, field);
        Assert.Equal("""{"total":0,"builds":[]}""", (await api.GetAsync($"/openapi/build?projectKey={project}")).Text);
    }

    [Fact]
    public async Task Bad_requests_unknown_builds_routes_and_methods_answer_in_zadigs_shape()
    {
        var project = ZadigApi.Unique("err");
        var body = ZadigApi.Build(project, "b", "true").ToJsonString();
        (await api.PostAsync($"/openapi/build?projectKey={project}", body)).AssertSuccess();
        var twice = await api.PostAsync($"/openapi/build?projectKey={project}", body);
        twice.AssertModuleError(6520, "新建编译模块失败");
        Assert.Equal("BUILD_DEFINITION_ALREADY_EXISTS", twice.Reason);

        (await api.PostAsync($"/openapi/build?projectKey={project}", "{not json")).AssertError(HttpStatusCode.BadRequest);
        (await api.PostAsync($"/openapi/build?projectKey={project}", "[1,2]")).AssertError(HttpStatusCode.BadRequest);
        (await api.SendAsync(HttpMethod.Post, $"/openapi/build?projectKey={project}")).AssertError(HttpStatusCode.BadRequest, "body");
        (await api.PostAsync($"/openapi/build?projectKey={project}&source=jenkins", body)).AssertError(HttpStatusCode.BadRequest, "source");
        (await api.PostAsync("/openapi/build?source=template", body)).AssertError(HttpStatusCode.BadRequest, "template_name");
        (await api.PostAsync($"/openapi/build?projectKey={project}", SeedTemplateBody.Replace("\"demo\"", $"\"{project}\""))).AssertError(HttpStatusCode.BadRequest, "template_name");
        (await api.GetAsync("/openapi/build")).AssertError(HttpStatusCode.BadRequest, "projectKey");
        (await api.GetAsync($"/openapi/build?projectKey={project}&pageNum=x")).AssertError(HttpStatusCode.BadRequest, "pageNum");
        (await api.GetAsync($"/openapi/build?projectKey={project}&pageSize=x")).AssertError(HttpStatusCode.BadRequest, "pageSize");
        (await api.GetAsync($"/openapi/build/b/detail?projectKey={project}&serviceModule=mod")).AssertError(HttpStatusCode.BadRequest, "serviceName");
        (await api.GetAsync($"/openapi/build/b/detail?projectKey={project}&serviceName=svc")).AssertError(HttpStatusCode.BadRequest, "serviceModule");
        var noService = await api.GetAsync($"/openapi/build/b/detail?projectKey={project}&serviceName=svc&serviceModule=other");
        noService.AssertError(HttpStatusCode.NotFound);
        Assert.Equal("BUILD_SERVICE_NOT_FOUND", noService.Reason);
        (await api.DeleteAsync($"/openapi/build?projectKey={project}")).AssertError(HttpStatusCode.BadRequest, "name");
        (await api.SendAsync(HttpMethod.Patch, "/openapi/build", "{}")).AssertError(HttpStatusCode.MethodNotAllowed);
        (await api.GetAsync("/openapi/build/b/nothing")).AssertError(HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync($"/openapi/build/b/detail?projectKey={project}&serviceName=svc&serviceModule=mod")).Status);
    }

    [Fact]
    public async Task The_documents_type_variants_are_read()
    {
        // The tables say installs is a string and docker_build_step / advanced_settings are arrays; the examples send a
        // list and objects. Both readings work.
        var project = ZadigApi.Unique("var");
        var body = ZadigApi.Build(project, "b", "true");
        body["installs"] = "go 1.22, node:20";
        body["docker_build_step"] = new JsonArray(new JsonObject
        {
            ["dockerfile_source"] = "local", ["build_context_dir"] = ".", ["dockerfile_directory"] = "Dockerfile", ["enable_buildkit"] = "true",
        });
        body["advanced_settings"] = new JsonArray(new JsonObject { ["timeout"] = "12" });
        (await api.PostAsync($"/openapi/build?projectKey={project}", body.ToJsonString())).AssertSuccess();
        var detail = await api.GetAsync($"/openapi/build/b/detail?projectKey={project}&serviceName=svc&serviceModule=mod");
        Assert.Equal("""[{"name":"go","version":"1.22"},{"name":"node","version":"20"}]""", detail.Root.GetProperty("build_env").GetProperty("installs").GetRawText());
        Assert.True(detail.Root.GetProperty("post_build").GetProperty("docker_build").GetProperty("enable_buildkit").GetBoolean());
        Assert.Equal(12, detail.Root.GetProperty("advanced_settings").GetProperty("timeout").GetInt32());
    }

    [Fact]
    public async Task The_openapi_document_describes_the_zadig_routes_and_the_rest_extension()
    {
        var paths = JsonDocument.Parse(await fixture.Rest.GetStringAsync("/openapi.json", Ct)).RootElement.GetProperty("paths");
        var build = paths.GetProperty("/openapi/build");
        foreach (var verb in new[] { "get", "post", "put", "delete" })
            Assert.True(build.TryGetProperty(verb, out _), verb);
        Assert.Equal(["projectKey", "pageNum", "pageSize"],
            build.GetProperty("get").GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString()));
        Assert.Equal(["name", "projectKey", "serviceName", "serviceModule"],
            paths.GetProperty("/openapi/build/{name}/detail").GetProperty("get").GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString()));
        Assert.True(paths.GetProperty("/openapi/build/{name}/template").TryGetProperty("put", out _));
        foreach (var path in new[] { "/buildgrid/v1/build-templates", "/buildgrid/v1/code-hosts", "/buildgrid/v1/builds/{name}/runs" })
            Assert.True(paths.GetProperty(path).TryGetProperty("post", out _), path);
        Assert.True(paths.GetProperty("/buildgrid/v1/runs/{id}/log").TryGetProperty("get", out _));
    }

    [Fact]
    public async Task The_database_keeps_template_made_builds_and_their_templates_together()
    {
        // Past the service's own checks (as two racing requests would get): the foreign key refuses both orphans.
        var store = fixture.Services.GetRequiredService<BuildGrid.Builds.Storage.DefinitionStore>();
        var orphan = new Definition
        {
            Name = "orphan", ProjectKey = ZadigApi.Unique("fk"), Source = "zadig", TemplateName = ZadigApi.Unique("ghost"),
            UpdateBy = "admin", UpdateTime = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow),
            CreateTime = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow),
            TargetServices = { new TargetService { ServiceName = "s", ServiceModule = "m" } },
        };
        var missing = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => store.InsertDefinitionAsync(orphan, Ct));
        Assert.Equal(BuildGrid.Core.Errors.Reasons.BuildTemplateNotFound, BuildGrid.Core.Errors.Errors.Info(missing)?.Reason);

        var template = new Template { Name = orphan.TemplateName, Infrastructure = "vm", BuildOs = "x", ScriptType = "shell", BuildScript = "true" };
        await grpc.CreateTemplateAsync(template, cancellationToken: Ct);
        await store.InsertDefinitionAsync(orphan, Ct);
        var inUse = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => grpc.DeleteTemplateAsync(new DeleteTemplateRequest { Name = template.Name }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(Grpc.Core.StatusCode.FailedPrecondition, inUse.StatusCode);
        Assert.Equal(BuildGrid.Core.Errors.Reasons.BuildTemplateInUse, BuildGrid.Core.Errors.Errors.Info(inUse)?.Reason);
    }
}
