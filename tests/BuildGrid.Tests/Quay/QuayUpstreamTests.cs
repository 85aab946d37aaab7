using System.Globalization;
using System.Net;
using System.Text.Json;
using BuildGrid.Tests.Infrastructure;
using BuildGrid.Tests.Registry;

namespace BuildGrid.Tests.Quay;

/// <summary>
/// What a script written for the real Quay sees where seed 003 is silent (quay/quay endpoints/api/repository.py,
/// repository_models_pre_oci.py, notifications/notificationmethod.py).
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class QuayUpstreamTests(StandaloneFixture fixture) : IDisposable
{
    public void Dispose() => fixture.AssertNoErrorsLogged();

    QuayApi Api => new(fixture.Rest);
    static string Unique(string prefix) => prefix + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task Tag_size_is_the_layers_total_and_includeTags_includeStats_shape_the_details()
    {
        var ns = Unique("qu");
        var repository = await Api.CreateRepositoryAsync(ns, "app");
        var image = OciTestImage.Create("quay size " + ns);
        await new V2Client(fixture.Rest).PushImageAsync(repository, "1.0", image);

        var details = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{repository}");
        var tag = details.GetProperty("tags").GetProperty("1.0");
        Assert.Equal(image.Layer.Size, tag.GetProperty("size").GetInt64());
        Assert.Equal("1.0", tag.GetProperty("name").GetString());
        Assert.Equal(image.Manifest.Digest, tag.GetProperty("manifest_digest").GetString());
        Assert.False(details.TryGetProperty("stats", out _));

        details = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{repository}?includeTags=false&includeStats=true");
        Assert.False(details.TryGetProperty("tags", out _));
        var stats = details.GetProperty("stats");
        Assert.Equal(91, stats.GetArrayLength());
        Assert.Equal(DateTime.UtcNow.Date.AddDays(-1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), stats[0].GetProperty("date").GetString());
        Assert.Equal(0, stats[0].GetProperty("count").GetInt32());

        // A repository without tags still answers "tags": {} by default.
        var empty = await Api.CreateRepositoryAsync(ns, "empty");
        details = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{empty}");
        Assert.Equal(JsonValueKind.Object, details.GetProperty("tags").ValueKind);
        Assert.Empty(details.GetProperty("tags").EnumerateObject());
    }

    [Fact]
    public async Task List_last_modified_is_the_newest_push_and_popularity_a_number()
    {
        var ns = Unique("ql");
        var pushed = await Api.CreateRepositoryAsync(ns, "pushed");
        await Api.CreateRepositoryAsync(ns, "untagged");
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await new V2Client(fixture.Rest).PushImageAsync(pushed, "1.0", OciTestImage.Create("quay lm " + ns));

        var list = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository?namespace={ns}&last_modified=true&popularity=true");
        var byName = list.GetProperty("repositories").EnumerateArray().ToDictionary(r => r.GetProperty("name").GetString()!);
        var lastModified = byName["pushed"].GetProperty("last_modified").GetInt64();
        Assert.InRange(lastModified, before - 1, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        Assert.Equal(JsonValueKind.Null, byName["untagged"].GetProperty("last_modified").ValueKind);
        Assert.Equal(0.0, byName["pushed"].GetProperty("popularity").GetDouble());

        // Without the flags neither field is there.
        list = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository?namespace={ns}");
        var item = list.GetProperty("repositories")[0];
        Assert.False(item.TryGetProperty("last_modified", out _));
        Assert.False(item.TryGetProperty("popularity", out _));

        // An unreadable next_page is no page token at all: the first page.
        var first = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository?namespace={ns}&next_page=not-a-token!");
        Assert.Equal(2, first.GetProperty("repositories").GetArrayLength());
    }

    [Fact]
    public async Task Create_without_description_is_400_and_deleting_twice_is_204_for_the_admin()
    {
        var ns = Unique("qd");
        var (status, body, text) = await Api.SendAsync(HttpMethod.Post, "/api/v1/repository", new { repository = "app", visibility = "private", @namespace = ns });
        Assert.True(status == HttpStatusCode.BadRequest, text);
        Assert.Equal("'description' is a required property", body.GetProperty("error_message").GetString());
        Assert.Equal("invalid_request", body.GetProperty("error_type").GetString());
        // "" is a description.
        var repository = await Api.CreateRepositoryAsync(ns, "app", description: "");

        for (var i = 0; i < 2; i++)
        {
            using var response = await fixture.Rest.DeleteAsync($"/api/v1/repository/{repository}", TestContext.Current.CancellationToken);
            Assert.True(response.StatusCode == HttpStatusCode.NoContent, $"delete #{i + 1}: {(int)response.StatusCode}");
        }
        await Api.ExpectAsync(HttpStatusCode.NotFound, HttpMethod.Get, $"/api/v1/repository/{repository}");
    }
}
