using System.Diagnostics;
using System.Net;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Containers;

/// <summary>A standalone host with an empty database, so that whole-server lists can be compared byte for byte.</summary>
public sealed class EmptyHostFixture : IAsyncLifetime
{
    WebApplication? app;
    readonly string dataDir = TestDirectories.Create("svacer-seed");

    public ErrorLog Errors { get; } = new();
    /// <summary>The document's containers, once created (see <c>SeedAsync</c>).</summary>
    public (string A, string B, string Bash, string Iptables, string Proftpd, string Master)? Seeded { get; set; }
    public SemaphoreSlim SeedLock { get; } = new(1, 1);
    public HttpClient Rest { get; private set; } = null!;
    public Uri RestUrl { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        (app, RestUrl, _) = await StandaloneFixture.StartAsync(dataDir, Errors);
        Rest = new HttpClient { BaseAddress = RestUrl };
    }

    public async ValueTask DisposeAsync()
    {
        Rest?.Dispose();
        if (app is not null)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
        TestDirectories.TryDelete(dataDir);
    }
}

/// <summary>
/// Seed 001's examples, in the document's order, on a server holding exactly the document's containers. The answers
/// must be the documented text with this server's ids in place of the document's.
/// </summary>
public sealed class SvacerSeedTests(EmptyHostFixture host) : IClassFixture<EmptyHostFixture>
{
    readonly SvacerApi api = new(host.Rest);

    [Fact]
    public async Task Every_example_of_the_document_answers_the_documented_text()
    {
        var (a, b, bash, iptables, proftpd, master) = await SeedAsync();

        var all = await api.SendAsync(HttpMethod.Post, SvacerApi.ContainersPath, """{"action": "list"}""");
        Assert.Equal(HttpStatusCode.OK, all.Status);
        Assert.Equal($$"""{"Containers":[{"id":"{{a}}","name":"projectGroupA","type":"project-group"},{"id":"{{b}}","name":"projectGroupB","type":"project-group"},{"id":"{{bash}}","name":"bash","type":"project"},{"id":"{{iptables}}","name":"iptables","type":"project"},{"id":"{{proftpd}}","name":"proftpd","type":"project"}]}""", all.Text);

        var groups = await api.SendAsync(HttpMethod.Post, SvacerApi.ContainersPath, """{"action": "list", "type": "project-group"}""");
        Assert.Equal($$"""{"Containers":[{"id":"{{a}}","name":"projectGroupA","type":"project-group"},{"id":"{{b}}","name":"projectGroupB","type":"project-group"}]}""", groups.Text);

        var byName = await api.SendAsync(HttpMethod.Post, SvacerApi.ContainersPath, """{"action": "list", "name": "bas"}""");
        Assert.Equal($$"""{"Containers":[{"id":"{{bash}}","name":"bash","type":"project"}]}""", byName.Text);

        var related = await api.SendAsync(HttpMethod.Post, SvacerApi.ContainersPath, $$"""{"action": "list", "id":"{{bash}}"}""");
        Assert.Equal($$"""{"Containers":[{"id":"{{a}}","name":"projectGroupA","type":"project-group"},{"id":"{{master}}","name":"master","type":"branch","parent":"{{bash}}"}]}""", related.Text);

        var getById = await api.SendAsync(HttpMethod.Post, SvacerApi.GroupsPath, $$"""{"action": "get", "project_group_name_or_id": "{{a}}"}""");
        Assert.Equal($$"""{"action":"get","project_group_id":"{{a}}","project_group_name":"projectGroupA"}""", getById.Text);
        var getByName = await api.SendAsync(HttpMethod.Post, SvacerApi.GroupsPath, """{"action": "get", "project_group_name_or_id": "projectGroupA"}""");
        Assert.Equal(getById.Text, getByName.Text);

        var added = await api.SendAsync(HttpMethod.Post, SvacerApi.GroupsPath,
            """{"action": "add-project-to-group", "project_name_or_id": "iptables", "project_group_name_or_id": "projectGroupA"}""");
        Assert.Equal($$"""{"action":"add-project-to-group","project_group_id":"{{a}}","project_group_name":"projectGroupA","project_id":"{{iptables}}","project_name":"iptables"}""", added.Text);
        var members = await api.ListAsync(new { action = "list", id = a });
        Assert.Equal(["bash", "iptables"], members.Select(m => m.GetProperty("name").GetString()));

        var removed = await api.SendAsync(HttpMethod.Post, SvacerApi.GroupsPath,
            """{"action": "remove-project-from-group", "project_name_or_id": "iptables", "project_group_name_or_id": "projectGroupA"}""");
        Assert.Equal($$"""{"action":"remove-project-from-group","project_group_id":"{{a}}","project_group_name":"projectGroupA","project_id":"{{iptables}}","project_name":"iptables"}""", removed.Text);
        Assert.Equal(["bash"], (await api.ListAsync(new { action = "list", id = a })).Select(m => m.GetProperty("name").GetString()));
        Assert.Empty(host.Errors.Entries);
    }

    [Fact]
    public async Task The_documented_curl_command_lines_work_as_written()
    {
        var curl = FindOnPath("curl");
        Assert.SkipWhen(curl is null, "curl is not on PATH");
        await SeedAsync();
        var url = host.RestUrl.ToString().TrimEnd('/');
        // The document's commands with only the host replaced (ids do not appear in these).
        var listed = await RunAsync(curl!, "--data", """{"action": "list", "name": "bas"}""", "-X", "POST", $"{url}/api/public/admin/server/containers");
        Assert.Matches("""^\{"Containers":\[\{"id":"[0-9a-f-]{36}","name":"bash","type":"project"\}\]\}$""", listed);
        var group = await RunAsync(curl!, "--data", """{"action": "get", "project_group_name_or_id": "projectGroupA"}""", "-X", "POST",
            $"{url}/api/public/admin/server/project-groups");
        Assert.Matches("""^\{"action":"get","project_group_id":"[0-9a-f-]{36}","project_group_name":"projectGroupA"\}$""", group);
        var add = await RunAsync(curl!, "--data", """{"action": "add-project-to-group", "project_name_or_id": "proftpd", "project_group_name_or_id": "projectGroupB"}""",
            "-X", "POST", $"{url}/api/public/admin/server/project-groups");
        Assert.Contains("\"project_name\":\"proftpd\"", add);
    }

    /// <summary>The document's containers; bash is in projectGroupA and has the branch master. Idempotent per host.</summary>
    async Task<(string A, string B, string Bash, string Iptables, string Proftpd, string Master)> SeedAsync()
    {
        await host.SeedLock.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            if (host.Seeded is null)
            {
                var a = await api.AddIdAsync("project-group", "projectGroupA");
                var b = await api.AddIdAsync("project-group", "projectGroupB");
                var bash = await api.AddIdAsync("project", "bash");
                var iptables = await api.AddIdAsync("project", "iptables");
                var proftpd = await api.AddIdAsync("project", "proftpd");
                var master = await api.AddIdAsync("branch", "master", "bash");
                var member = await api.GroupsAsync(new { action = "add-project-to-group", project_name_or_id = bash, project_group_name_or_id = "projectGroupA" });
                Assert.Equal(HttpStatusCode.OK, member.Status);
                host.Seeded = (a, b, bash, iptables, proftpd, master);
            }
            return host.Seeded.Value;
        }
        finally
        {
            host.SeedLock.Release();
        }
    }

    static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
        .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);

    static async Task<string> RunAsync(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.Equal(0, process.ExitCode);
        return output;
    }
}
