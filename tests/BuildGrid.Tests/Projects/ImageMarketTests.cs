using System.Globalization;
using System.Net;
using System.Text.Json;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Projects;

/// <summary>Seed 000 §1-6, 9, 10 through the REST gateway of a standalone host, as a script calls it.</summary>
[Collection(StandaloneCollection.Name)]
public sealed class ImageMarketTests(StandaloneFixture fixture) : IDisposable
{
    public void Dispose() => fixture.AssertNoErrorsLogged();

    readonly ImageMarketApi api = new(fixture.Rest);

    static void AssertOk(ImageMarketApi.Envelope e)
    {
        Assert.Equal(HttpStatusCode.OK, e.Status);
        Assert.True(e.Code == 10000, $"expected 10000, got {e.Code} {e.ErrMsg} {e.Content}");
        Assert.Equal("ok", e.ErrMsg);
    }

    static void AssertFailed(ImageMarketApi.Envelope e, int code)
    {
        Assert.Equal(HttpStatusCode.OK, e.Status);
        Assert.True(e.Code == code, $"expected {code}, got {e.Code} {e.ErrMsg} {e.Content}");
    }

    [Fact]
    public async Task Project_lifecycle_answers_the_documented_envelopes_and_fields()
    {
        var name = ImageMarketApi.UniqueName("life");
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);

        var created = await api.NewAsync(name, "root");
        AssertOk(created);
        Assert.Equal("", created.Content.GetString());

        var info = await api.InfoAsync(name);
        AssertOk(info);
        var content = info.Content;
        Assert.Equal(name, content.GetProperty("name").GetString());
        Assert.Equal("root", content.GetProperty("creator").GetString());
        Assert.Equal("root", content.GetProperty("lastModifyOperator").GetString());
        Assert.Equal("default_cluster", content.GetProperty("Cluster").GetString());
        Assert.Equal("plugin", content.GetProperty("DefineDockerFileType").GetString());
        var createTime = DateTimeOffset.Parse(content.GetProperty("createTime").GetString()!, CultureInfo.InvariantCulture);
        Assert.InRange(createTime, before, DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.Equal(content.GetProperty("createTime").GetString(), content.GetProperty("lastModifyTime").GetString());

        var deleted = await api.PostJsonAsync("/api/project/delete", new { projectName = name, @operator = "root" });
        AssertOk(deleted);
        var gone = await api.InfoAsync(name);
        AssertFailed(gone, 10008);
        Assert.Equal($"Project: {name} to query info not exist", gone.ErrMsg);
        Assert.Equal(-1, gone.Content.GetInt32());
    }

    [Fact]
    public async Task Creating_a_name_twice_is_10006_already_exist_and_keeps_the_first()
    {
        var name = ImageMarketApi.UniqueName("twice");
        AssertOk(await api.NewAsync(name, "first"));
        var again = await api.NewAsync(name, "second");
        AssertFailed(again, 10006);
        Assert.Equal("project already exist", again.ErrMsg);
        Assert.Equal($"project: {name} already exist", again.Content.GetString());
        // Names are unique regardless of case: they become lower-case image repositories.
        AssertFailed(await api.NewAsync(name.ToUpperInvariant(), "third"), 10006);
        Assert.Equal("first", (await api.InfoAsync(name)).Content.GetProperty("creator").GetString());
    }

    [Theory]
    [InlineData("my*web", "*")]
    [InlineData("../etc", "/")]
    [InlineData("a b", "U+0020")]
    [InlineData("tab\tname", "U+0009")]
    [InlineData("ctl\u0001x", "U+0001")]
    [InlineData("名字", "名")]
    [InlineData("semi;colon", ";")]
    public async Task A_special_character_is_10001_naming_the_character(string name, string shown)
    {
        var answer = await api.NewAsync(name);
        AssertFailed(answer, 10001);
        Assert.Equal("parameter invalid", answer.ErrMsg);
        Assert.Equal($"projectName contains special char: {shown}", answer.Content.GetString());
        AssertFailed(await api.InfoAsync(name), 10001);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-leading")]
    [InlineData("trailing.")]
    [InlineData("double..dot")]
    public async Task Malformed_names_are_10006(string name)
    {
        var answer = await api.NewAsync(name);
        AssertFailed(answer, 10006);
        Assert.StartsWith("parameter invalid: projectName", answer.ErrMsg);
    }

    [Fact]
    public async Task Names_longer_than_64_characters_are_refused_and_64_are_accepted()
    {
        var longest = "n" + Guid.NewGuid().ToString("N") + new string('x', 31);
        Assert.Equal(64, longest.Length);
        AssertOk(await api.NewAsync(longest));
        var tooLong = await api.NewAsync(longest + "y");
        AssertFailed(tooLong, 10006);
        Assert.Contains("longer than 64", tooLong.ErrMsg);
    }

    [Fact]
    public async Task Delete_of_a_missing_project_is_10003()
    {
        var answer = await api.PostJsonAsync("/api/project/delete", new { projectName = ImageMarketApi.UniqueName("none"), @operator = "root" });
        AssertFailed(answer, 10003);
        Assert.Equal("project to delete not exist", answer.ErrMsg);
        Assert.Equal(-1, answer.Content.GetInt32());
    }

    [Fact]
    public async Task Clone_copies_the_whole_definition_and_reports_10002_and_10006()
    {
        var source = ImageMarketApi.UniqueName("src");
        var target = ImageMarketApi.UniqueName("dst");
        AssertOk(await api.PostJsonAsync("/api/project/save", new Dictionary<string, object>
        {
            ["project"] = source, ["Cluster"] = "team_a", ["DefineDockerFileType"] = "plugin", ["addOrUpdate"] = "add", ["operator"] = "alice",
            ["$$plugin"] = new object[]
            {
                new { name = "base-image", @params = new { image = "debian:12-slim" } },
                new { name = "env", @params = new { variables = new { MODE = "prod" } } },
            },
        }));

        AssertOk(await api.PostJsonAsync("/api/project/clone", new { srcProjectName = source, dstProjectName = target, @operator = "bob" }));
        var clone = (await api.InfoAsync(target)).Content;
        Assert.Equal("team_a", clone.GetProperty("Cluster").GetString());
        Assert.Equal("bob", clone.GetProperty("creator").GetString());
        var plugins = clone.GetProperty("$$plugin").EnumerateArray().ToList();
        Assert.Equal(["base-image", "env"], plugins.Select(p => p.GetProperty("name").GetString()));
        Assert.Equal("prod", plugins[1].GetProperty("params").GetProperty("variables").GetProperty("MODE").GetString());

        var missing = await api.PostJsonAsync("/api/project/clone", new { srcProjectName = ImageMarketApi.UniqueName("nosrc"), dstProjectName = ImageMarketApi.UniqueName("x"), @operator = "bob" });
        AssertFailed(missing, 10002);
        Assert.Equal("src project not exist", missing.ErrMsg);

        var taken = await api.PostJsonAsync("/api/project/clone", new { srcProjectName = source, dstProjectName = target, @operator = "bob" });
        AssertFailed(taken, 10006);

        var bad = await api.PostJsonAsync("/api/project/clone", new { srcProjectName = source, dstProjectName = "bad*name", @operator = "bob" });
        AssertFailed(bad, 10001);
        Assert.Equal("dstProjectName contains special char: *", bad.Content.GetString());
    }

    [Fact]
    public async Task List_pages_from_1_filters_by_name_and_caps_the_page_size()
    {
        var prefix = "lst" + Guid.NewGuid().ToString("N")[..10];
        for (var i = 0; i < 12; i++)
            AssertOk(await api.NewAsync($"{prefix}-{i:D2}"));

        var first = await api.GetAsync($"/api/project/list?page=1&page_size=5&projectName={prefix}");
        AssertOk(first);
        Assert.Equal(1, first.Content.GetProperty("page").GetInt32());
        Assert.Equal(5, first.Content.GetProperty("page_size").GetInt32());
        Assert.Equal(12, first.Content.GetProperty("total_count").GetInt64());
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"{prefix}-{i:D2}"),
            first.Content.GetProperty("data").EnumerateArray().Select(p => p.GetProperty("name").GetString()));

        var third = await api.GetAsync($"/api/project/list?page=3&page_size=5&projectName={prefix}");
        Assert.Equal([$"{prefix}-10", $"{prefix}-11"], third.Content.GetProperty("data").EnumerateArray().Select(p => p.GetProperty("name").GetString()));
        var beyond = await api.GetAsync($"/api/project/list?page=9&page_size=5&projectName={prefix}");
        Assert.Empty(beyond.Content.GetProperty("data").EnumerateArray());
        Assert.Equal(12, beyond.Content.GetProperty("total_count").GetInt64());

        var defaults = await api.GetAsync($"/api/project/list?projectName={prefix}");
        Assert.Equal(1, defaults.Content.GetProperty("page").GetInt32());
        Assert.Equal(10, defaults.Content.GetProperty("page_size").GetInt32());
        var capped = await api.GetAsync($"/api/project/list?page_size=100000&projectName={prefix}");
        Assert.Equal(100, capped.Content.GetProperty("page_size").GetInt32());

        // The example POSTs, with the parameters in the query or in a body.
        var posted = await api.PostAsync($"/api/project/list?page=2&page_size=5&projectName={prefix}", "");
        Assert.Equal($"{prefix}-05", posted.Content.GetProperty("data")[0].GetProperty("name").GetString());
        var bodied = await api.PostJsonAsync("/api/project/list", new { page = 2, page_size = "5", projectName = prefix });
        Assert.Equal($"{prefix}-05", bodied.Content.GetProperty("data")[0].GetProperty("name").GetString());

        // The filter is a substring, and its wildcard characters are literal.
        var none = await api.GetAsync($"/api/project/list?projectName={prefix}%25");
        Assert.Equal(0, none.Content.GetProperty("total_count").GetInt64());
    }

    [Theory]
    [InlineData("page=abc")]
    [InlineData("page=0")]
    [InlineData("page=-1")]
    [InlineData("page_size=0")]
    [InlineData("page=1&page=2")]
    [InlineData("page=99999999999")]
    public async Task Bad_list_parameters_are_10006(string query)
    {
        var answer = await api.GetAsync($"/api/project/list?{query}");
        AssertFailed(answer, 10006);
        Assert.StartsWith("parameter invalid", answer.ErrMsg);
    }

    [Fact]
    public async Task Info_answers_GET_and_POST_and_10006_without_a_name()
    {
        var name = ImageMarketApi.UniqueName("info");
        AssertOk(await api.NewAsync(name));
        AssertOk(await api.PostJsonAsync("/api/project/info", new { projectName = name, @operator = "admin" }));
        AssertOk(await api.PostAsync($"/api/project/info?projectName={name}", ""));
        var missing = await api.GetAsync("/api/project/info");
        AssertFailed(missing, 10006);
        Assert.Equal("parameter invalid: projectName is required", missing.ErrMsg);
    }

    [Fact]
    public async Task Save_adds_updates_and_validates_plugins()
    {
        var name = ImageMarketApi.UniqueName("save");
        AssertOk(await api.PostJsonAsync("/api/project/save", new Dictionary<string, object>
        {
            ["project"] = name, ["Cluster"] = "default", ["DefineDockerFileType"] = "define", ["addOrUpdate"] = "add",
            ["Dockerfile"] = "FROM alpine:3.20\nRUN echo hi\n", ["operator"] = "alice",
        }));
        var again = await api.PostJsonAsync("/api/project/save", new { project = name, Cluster = "default", DefineDockerFileType = "define", addOrUpdate = "add" });
        AssertFailed(again, 10006);
        Assert.Equal($"project: {name} already exist", again.Content.GetString());

        AssertOk(await api.PostJsonAsync("/api/project/save", new Dictionary<string, object>
        {
            ["project"] = name, ["Cluster"] = "other", ["DefineDockerFileType"] = "plugin", ["addOrUpdate"] = "update", ["operator"] = "bob",
            ["$$plugin"] = new object[] { new { name = "base-image", @params = new { image = "alpine:3.20" } }, new { name = "expose", @params = new { ports = new[] { "8080" } } } },
        }));
        var info = (await api.InfoAsync(name)).Content;
        Assert.Equal("other", info.GetProperty("Cluster").GetString());
        Assert.Equal("plugin", info.GetProperty("DefineDockerFileType").GetString());
        Assert.Equal("bob", info.GetProperty("lastModifyOperator").GetString());
        Assert.Equal("alice", info.GetProperty("creator").GetString());
        Assert.Equal(2, info.GetProperty("$$plugin").GetArrayLength());

        var unknownPlugin = await api.PostJsonAsync("/api/project/save", new Dictionary<string, object>
        {
            ["project"] = name, ["addOrUpdate"] = "update", ["$$plugin"] = new object[] { new { name = "no-such-plugin" } },
        });
        AssertFailed(unknownPlugin, 10004);
        var badParameter = await api.PostJsonAsync("/api/project/save", new Dictionary<string, object>
        {
            ["project"] = name, ["addOrUpdate"] = "update",
            ["$$plugin"] = new object[] { new { name = "base-image", @params = new { image = "alpine\nRUN rm -rf /" } } },
        });
        AssertFailed(badParameter, 10004);
        Assert.Contains("image", badParameter.ErrMsg);
        // A rejected save changed nothing.
        Assert.Equal(2, (await api.InfoAsync(name)).Content.GetProperty("$$plugin").GetArrayLength());

        var missing = await api.PostJsonAsync("/api/project/save", new { project = ImageMarketApi.UniqueName("nosave"), addOrUpdate = "update" });
        AssertFailed(missing, 10006);
        var badMode = await api.PostJsonAsync("/api/project/save", new { project = name, addOrUpdate = "upsert" });
        AssertFailed(badMode, 10006);
        Assert.Contains("addOrUpdate", badMode.ErrMsg);
        var special = await api.PostJsonAsync("/api/project/save", new { project = "aa*", addOrUpdate = "add" });
        AssertFailed(special, 10001);
        Assert.Equal("project contains special char: *", special.Content.GetString());
    }

    [Fact]
    public async Task The_seed_save_example_works_as_written_after_the_shell_ate_its_quotes()
    {
        // curl -d "{ project:"aa" ... $$plugin:[{ }] }" in a shell sends this: quotes gone, $$ replaced by the shell's pid.
        var name = ImageMarketApi.UniqueName("aa");
        var body = $"{{\n  project:{name}\n  Cluster:default\n  DefineDockerFileType:define\n  addOrUpdate:add\n  4242plugin:[{{\n  }}]\n}}";
        AssertOk(await api.PostAsync("/api/project/save", body));
        var info = (await api.InfoAsync(name)).Content;
        Assert.Equal("default", info.GetProperty("Cluster").GetString());
        Assert.Equal("define", info.GetProperty("DefineDockerFileType").GetString());
        var second = await api.PostAsync("/api/project/save", body);
        AssertFailed(second, 10006);
        Assert.Equal($"project: {name} already exist", second.Content.GetString());
    }

    [Fact]
    public async Task The_seed_plugin_example_gets_a_clear_10004_and_real_plugins_answer()
    {
        // curl -d 'plugin="aa"' -d 'method="download file"' -d '{ }' joins the parts with '&'.
        var seed = await api.PostAsync("/api/plugin/extension/interface", "plugin=\"aa\"&method=\"download file\"&{  \n}");
        AssertFailed(seed, 10004);
        Assert.Contains("unknown plugin 'aa'", seed.ErrMsg);
        Assert.Equal(JsonValueKind.Object, seed.Content.ValueKind);

        var download = await api.PostAsync("/api/plugin/extension/interface",
            "plugin=\"download-file\"&method=\"download file\"&{\"params\":{\"url\":\"https://example.invalid/files/tool.tar.gz\",\"destination\":\"/opt/\"}}");
        AssertOk(download);
        Assert.Equal("/opt/tool.tar.gz", download.Content.GetProperty("destination").GetString());
        Assert.Equal("ADD [\"https://example.invalid/files/tool.tar.gz\", \"/opt/\"]", download.Content.GetProperty("instruction").GetString());

        var describe = await api.PostJsonAsync("/api/plugin/extension/interface", new { plugin = "packages", method = "describe" });
        AssertOk(describe);
        Assert.Contains(describe.Content.GetProperty("parameters").EnumerateArray(), p => p.GetProperty("name").GetString() == "packages");

        var render = await api.PostJsonAsync("/api/plugin/extension/interface",
            new { plugin = "packages", method = "render", @params = new { manager = "apk", packages = new[] { "curl", "git" } } });
        AssertOk(render);
        Assert.Equal("RUN apk add --no-cache curl git", render.Content.GetString());

        var beside = await api.PostJsonAsync("/api/plugin/extension/interface", new { plugin = "workdir", method = "render", path = "/app" });
        Assert.Equal("WORKDIR /app", beside.Content.GetString());

        AssertFailed(await api.PostJsonAsync("/api/plugin/extension/interface", new { plugin = "packages", method = "explode" }), 10004);
        AssertFailed(await api.PostJsonAsync("/api/plugin/extension/interface",
            new { plugin = "packages", method = "render", @params = new { packages = new[] { "curl; rm -rf /" } } }), 10004);
        AssertFailed(await api.PostJsonAsync("/api/plugin/extension/interface",
            new { plugin = "packages", method = "render", @params = new { packages = new[] { "curl" }, typo = 1 } }), 10004);
        // A missing plugin (or method) is 10004, the only parameter-error code the extension interface documents.
        var noPlugin = await api.PostJsonAsync("/api/plugin/extension/interface", new { method = "render" });
        AssertFailed(noPlugin, 10004);
        Assert.Equal("param error: plugin is required", noPlugin.ErrMsg);
        Assert.Equal(JsonValueKind.Object, noPlugin.Content.ValueKind);
        AssertFailed(await api.PostJsonAsync("/api/plugin/extension/interface", new { plugin = "packages" }), 10004);
    }

    [Fact]
    public async Task The_config_page_is_escaped_html_with_the_rendered_dockerfile()
    {
        var name = ImageMarketApi.UniqueName("page");
        AssertOk(await api.PostJsonAsync("/api/project/save", new Dictionary<string, object>
        {
            ["project"] = name, ["addOrUpdate"] = "add",
            ["$$plugin"] = new object[]
            {
                new { name = "base-image", @params = new { image = "alpine:3.20" } },
                new { name = "label", @params = new { labels = new Dictionary<string, string> { ["note"] = "<script>alert(1)</script>" } } },
            },
        }));
        using var response = await fixture.Rest.GetAsync($"/view/config/independent?projectName={name}", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var page = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        var html = page.GetProperty("data").GetString()!;
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.Contains("FROM alpine:3.20", html);
        Assert.DoesNotContain("<script>", html);
        Assert.Contains("&lt;script&gt;", html);
        Assert.False(page.TryGetProperty("code", out _));

        var missing = await api.GetAsync($"/view/config/independent?projectName={ImageMarketApi.UniqueName("nopage")}");
        AssertFailed(missing, 10008);
        Assert.False(missing.Root.TryGetProperty("data", out _));
    }

    [Theory]
    [InlineData("{\"projectName\":", "application/json")]
    [InlineData("[1,2,3]", "application/json")]
    [InlineData("\"just a string\"", "application/json")]
    [InlineData("{\"projectName\":[\"a\"]}", "application/json")]
    [InlineData("{\"projectName\":{\"a\":1}}", "application/json")]
    [InlineData("{\"projectName\":true}", "application/json")]
    [InlineData("<xml/>", "text/xml")]
    public async Task Unreadable_or_wrongly_typed_bodies_are_10006_and_change_nothing(string body, string contentType)
    {
        var before = (await api.GetAsync("/api/project/list")).Content.GetProperty("total_count").GetInt64();
        var answer = await api.PostAsync("/api/project/new", body, contentType);
        AssertFailed(answer, 10006);
        Assert.DoesNotContain("Exception", answer.ErrMsg);
        Assert.Equal(before, (await api.GetAsync("/api/project/list")).Content.GetProperty("total_count").GetInt64());
    }

    [Fact]
    public async Task Invalid_utf8_and_oversize_bodies_are_10006()
    {
        AssertFailed(await api.PostBytesAsync("/api/project/new", [0x7b, 0xff, 0xfe, 0x7d], "application/json"), 10006);
        var huge = "{\"projectName\":\"" + new string('a', 1024 * 1024 + 10) + "\"}";
        var answer = await api.PostAsync("/api/project/new", huge);
        AssertFailed(answer, 10006);
        Assert.Contains("larger than", answer.ErrMsg);
    }

    [Fact]
    public async Task Form_bodies_and_unknown_parameters_are_accepted()
    {
        var name = ImageMarketApi.UniqueName("form");
        AssertOk(await api.PostAsync($"/api/project/new?unknown=1", $"projectName={name}&operator=carol&extra=ignored", "application/x-www-form-urlencoded"));
        Assert.Equal("carol", (await api.InfoAsync(name)).Content.GetProperty("creator").GetString());
    }

    [Fact]
    public async Task Unknown_routes_and_methods_answer_the_envelope()
    {
        using var notFound = await fixture.Rest.GetAsync("/api/project/nothing", TestContext.Current.CancellationToken);
        var envelope = await ImageMarketApi.ReadAsync(notFound);
        Assert.Equal(HttpStatusCode.NotFound, envelope.Status);
        Assert.Equal(10006, envelope.Code);

        using var wrongMethod = await fixture.Rest.GetAsync("/api/project/new", TestContext.Current.CancellationToken);
        var answer = await ImageMarketApi.ReadAsync(wrongMethod);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, answer.Status);
        Assert.Equal(10006, answer.Code);
    }

    [Fact]
    public async Task Concurrent_creates_of_one_name_have_exactly_one_winner()
    {
        var name = ImageMarketApi.UniqueName("race");
        var answers = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => api.NewAsync(name, $"op{i}")));
        Assert.Single(answers, a => a.Code == 10000);
        Assert.All(answers.Where(a => a.Code != 10000), a => Assert.Equal(10006, a.Code));
        var winner = answers.Select((a, i) => (a, i)).Single(x => x.a.Code == 10000).i;
        Assert.Equal($"op{winner}", (await api.InfoAsync(name)).Content.GetProperty("creator").GetString());
    }

    [Fact]
    public async Task Concurrent_updates_never_lose_a_write_silently()
    {
        var name = ImageMarketApi.UniqueName("upd");
        AssertOk(await api.NewAsync(name));
        var answers = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => api.PostJsonAsync("/api/project/save",
            new { project = name, addOrUpdate = "update", DefineDockerFileType = "define", Dockerfile = $"FROM alpine:{i}", @operator = $"op{i}" })));
        Assert.All(answers, a => Assert.True(a.Code is 10000 or 10006, $"{a.Code} {a.ErrMsg}"));
        var info = (await api.InfoAsync(name)).Content;
        // The last successful writer is the one whose Dockerfile and operator are stored, together.
        var op = info.GetProperty("lastModifyOperator").GetString()!;
        Assert.Equal($"FROM alpine:{op[2..]}", info.GetProperty("Dockerfile").GetString());
        Assert.Contains(answers.Select((a, i) => (a, i)), x => x.a.Code == 10000 && $"op{x.i}" == op);
    }
}
