using System.Net;
using System.Text;
using BuildGrid.Registry.Storage;
using BuildGrid.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace BuildGrid.Tests.Quay;

/// <summary>
/// What one caller may make the server hold in memory: descriptions are capped, a list page stops at a budget of
/// description bytes, and a notification config too deep to read back is refused before it is stored — and one stored
/// before that no longer breaks the repository's notification list.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class QuayLimitsTests(StandaloneFixture fixture) : IDisposable
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    public void Dispose() => fixture.AssertNoErrorsLogged();

    QuayApi Api => new(fixture.Rest);
    static string Unique(string prefix) => prefix + Guid.NewGuid().ToString("N")[..8];

    /// <summary>A JSON object nested <paramref name="depth"/> levels: {"a":{"a":…{"url":"…"}}}.</summary>
    static string Nested(int depth)
    {
        var json = new StringBuilder();
        for (var i = 1; i < depth; i++) json.Append("{\"a\":");
        json.Append("{\"target\":\"x\"}");
        json.Append('}', depth - 1);
        return json.ToString();
    }

    static string Body(string config, string eventConfig) =>
        "{\"event\":\"repo_push\",\"method\":\"quay_notification\",\"config\":" + config + ",\"eventConfig\":" + eventConfig + "}";

    [Fact]
    public async Task Descriptions_over_64_KiB_are_400_on_create_and_update_and_64_KiB_is_kept()
    {
        var ns = Unique("ql");
        var tooLong = new string('d', 64 * 1024 + 1);
        var (status, body, text) = await Api.SendAsync(HttpMethod.Post, "/api/v1/repository",
            new { repository = "big", visibility = "private", description = tooLong, @namespace = ns });
        Assert.True(status == HttpStatusCode.BadRequest, text);
        Assert.Equal("invalid_request", body.GetProperty("error_type").GetString());
        Assert.Contains("description is longer than 65536 bytes", body.GetProperty("error_message").GetString());
        // Multi-byte letters count in UTF-8 bytes: 21846 × 3 bytes is over, though under 65536 characters.
        (status, _, text) = await Api.SendAsync(HttpMethod.Post, "/api/v1/repository",
            new { repository = "big", visibility = "private", description = new string('文', 21846), @namespace = ns });
        Assert.True(status == HttpStatusCode.BadRequest, text);

        var repository = await Api.CreateRepositoryAsync(ns, "ok", description: new string('d', 64 * 1024));
        var error = await Api.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Put, $"/api/v1/repository/{repository}", new { description = tooLong });
        Assert.Contains("description is longer than 65536 bytes", error.GetProperty("error_message").GetString());
        var details = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{repository}");
        Assert.Equal(64 * 1024, details.GetProperty("description").GetString()!.Length);
    }

    [Fact]
    public async Task A_list_page_stops_once_its_descriptions_pass_1_MiB_and_next_page_goes_on()
    {
        var ns = Unique("qp");
        var description = new string('p', 60 * 1024);
        for (var i = 0; i < 20; i++)
            await Api.CreateRepositoryAsync(ns, $"r{i:D2}", description: description);
        var seen = new List<string>();
        var pages = new List<int>();
        string? next = null;
        do
        {
            var page = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get,
                $"/api/v1/repository?namespace={ns}" + (next is null ? "" : $"&next_page={Uri.EscapeDataString(next)}"));
            var names = page.GetProperty("repositories").EnumerateArray().Select(r => r.GetProperty("name").GetString()!).ToList();
            Assert.All(page.GetProperty("repositories").EnumerateArray(), r => Assert.Equal(description, r.GetProperty("description").GetString()));
            seen.AddRange(names);
            pages.Add(names.Count);
            next = page.TryGetProperty("next_page", out var token) ? token.GetString() : null;
        }
        while (next is not null && pages.Count < 10);
        // 17 descriptions of 60 KiB are 1020 KiB; the 18th would pass 1 MiB.
        Assert.Equal([17, 3], pages);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"r{i:D2}"), seen);
    }

    [Fact]
    public async Task A_notification_config_nested_too_deep_is_400_before_it_is_stored()
    {
        var repository = await Api.CreateRepositoryAsync(Unique("qd"), "app");
        var path = $"/api/v1/repository/{repository}/notification/";
        foreach (var (field, depth) in new[] { ("config", 17), ("config", 60), ("eventConfig", 60) })
        {
            var body = field == "config" ? Body(Nested(depth), "{}") : Body("{}", Nested(depth));
            var (status, json, text) = await Api.SendAsync(HttpMethod.Post, path, body);
            Assert.True(status == HttpStatusCode.BadRequest, $"{field} at depth {depth}: {(int)status} {text}");
            Assert.Equal($"{field} nests deeper than 16 levels", json.GetProperty("error_message").GetString());
        }
        // 16 levels are fine, and read back whole.
        var created = await Api.ExpectAsync(HttpStatusCode.Created, HttpMethod.Post, path, Body("{\"target\":{\"kind\":\"user\",\"name\":\"q\"},\"deep\":" + Nested(15) + "}", "{}"));
        // quay_notification needs a target at the top; the rest of the 16 levels under "deep".
        var config = created.GetProperty("config").GetProperty("deep");
        for (var i = 1; i < 15; i++) config = config.GetProperty("a");
        Assert.Equal("x", config.GetProperty("target").GetString());
        var large = Body($"{{\"pad\":\"{new string('x', 70 * 1024)}\"}}", "{}");
        var tooLarge = await Api.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Post, path, large);
        Assert.Equal("config is larger than 65536 bytes", tooLarge.GetProperty("error_message").GetString());
        // Nothing refused was stored.
        var list = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, path);
        Assert.Single(list.GetProperty("notifications").EnumerateArray());
    }

    [Fact]
    public async Task A_notification_stored_before_the_limits_no_longer_breaks_the_list()
    {
        var repository = await Api.CreateRepositoryAsync(Unique("qr"), "app");
        var good = await Api.CreateNotificationAsync(repository, "repo_push", "quay_notification", new { target = new { kind = "user", name = "x" } });
        // What the store kept before configs were checked: a 60-level config, written through the real store.
        var store = fixture.Services.GetRequiredService<NotificationStore>();
        var bad = await store.CreateAsync(repository, "old", "repo_push", "quay_notification", Nested(60), "{}", Ct);

        var list = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{repository}/notification/");
        var items = list.GetProperty("notifications").EnumerateArray().ToDictionary(n => n.GetProperty("uuid").GetString()!);
        Assert.Equal("x", items[good].GetProperty("config").GetProperty("target").GetProperty("name").GetString());
        Assert.Equal("{}", items[bad.Uuid].GetProperty("config").GetRawText());
        Assert.Contains("cannot be read", items[bad.Uuid].GetProperty("last_error").GetString());
        var one = await Api.NotificationAsync(repository, bad.Uuid);
        Assert.Contains("delete this notification and create it again", one.GetProperty("last_error").GetString());
        // And it can be deleted, as the message says.
        var (status, _, text) = await Api.SendAsync(HttpMethod.Delete, $"/api/v1/repository/{repository}/notification/{bad.Uuid}");
        Assert.True(status == HttpStatusCode.NoContent, text);
        Assert.Single((await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{repository}/notification/"))
            .GetProperty("notifications").EnumerateArray());
    }
}
