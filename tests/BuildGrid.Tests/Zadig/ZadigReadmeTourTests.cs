using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Zadig;

/// <summary>
/// README's Zadig tour (<c>&lt;!-- tour:zadig --&gt;</c>), as written, with <c>bash -e</c> and curl against a fresh
/// standalone BuildGrid: it writes the document's bodies to files, creates, lists, reads, updates, makes a build from a
/// template and deletes — every write answering Zadig's success and the build it made being there afterwards.
/// </summary>
public sealed class ZadigReadmeTourTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_Zadig_tour_runs_as_written()
    {
        Tools.Require("curl", "curl");
        var blocks = await ReadmeTour.BlocksAsync("zadig", Ct);
        Assert.Single(blocks);
        await using var host = await OwnedHost.StartAsync("readme-zadig");
        var work = TestDirectories.Create("readme-zadig-shell");
        try
        {
            var (exitCode, text) = await ReadmeTour.RunAsync(blocks, work,
                new Dictionary<string, string> { ["H"] = host.RestUrl.Authority }, TimeSpan.FromMinutes(2), Ct);
            Assert.True(exitCode == 0, $"the tour failed (exit {exitCode}):\n{text}");
            Assert.DoesNotContain("\"type\":\"error\"", text);
            Assert.DoesNotContain("stderr:", text);
            // create, update, the template-made create and update, delete
            Assert.Equal(5, Regex.Count(text, Regex.Escape("""{"message":"success"}""")));
            Assert.Contains("\"total\":1", text);
            Assert.Contains("\"value\":\"******\"", text);   // the credential parameter, masked in the detail

            using var http = new HttpClient { BaseAddress = host.RestUrl };
            using (var deleted = await http.GetAsync("/openapi/build/api-test/detail?projectKey=yaml&serviceName=service1&serviceModule=service1", Ct))
            {
                // Zadig answers a missing build with its code 6523 and HTTP 400.
                Assert.Equal(HttpStatusCode.BadRequest, deleted.StatusCode);
                Assert.Contains("6523", await deleted.Content.ReadAsStringAsync(Ct));
            }
            var made = JsonDocument.Parse(await http.GetStringAsync(
                "/openapi/build/demo-build/detail?projectKey=demo&serviceName=zadigx&serviceModule=aslan", Ct)).RootElement;
            Assert.Equal("demo-template", made.GetProperty("template_name").GetString());
            Assert.Equal("echo hello $name", made.GetProperty("build_script").GetString());
        }
        finally
        {
            TestDirectories.TryDelete(work);
        }
    }
}
