using System.Net;
using System.Text.Json;
using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// GET /buildgrid/v1/runs/{id}/log?follow=true on the standalone host: server-sent events as lines are written, a
/// reconnect resuming after Last-Event-ID or from fromLine, the end of the run ending the stream, the image market's
/// idStr as the run id, and clear google.rpc.Status errors for bad input.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class RunLogFollowTests(StandaloneFixture fixture) : IDisposable
{
    readonly BuildRuns.BuildRunsClient client = new(fixture.Channel);
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => fixture.AssertNoErrorsLogged();

    static async Task<List<ServerSentEvents.Event>> FollowAsync(HttpClient http, string path, string? lastEventId = null,
        Func<ServerSentEvents.Event, Task>? onEvent = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (lastEventId is not null)
            request.Headers.Add("Last-Event-ID", lastEventId);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = new List<ServerSentEvents.Event>();
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bounded.CancelAfter(TimeSpan.FromSeconds(60));
        await foreach (var e in ServerSentEvents.ReadAsync(await response.Content.ReadAsStreamAsync(Ct), bounded.Token))
        {
            events.Add(e);
            if (onEvent is not null)
                await onEvent(e);
        }
        return events;
    }

    [Fact]
    public async Task Follow_streams_lines_as_they_are_written_ends_with_the_run_and_resumes_after_the_last_event()
    {
        var run = await client.StartRunAsync(new StartRunRequest
        {
            Spec = Runs.Script("echo first line\nwhile [ ! -f \"$WORKSPACE/go\" ]; do sleep 0.05; done\necho second line\nexit 4", 120),
        }, cancellationToken: Ct);
        // The gate is in the run's own workspace: the sandboxed script sees nothing else of the data dir.
        var gate = Path.Combine(fixture.DataDir, "builds", "workspaces", $"{run.Id}-1", "go");
        var stateAtFirstLine = RunState.Unspecified;
        var events = await FollowAsync(fixture.Rest, $"/buildgrid/v1/runs/{run.Id}/log?follow=true", onEvent: async e =>
        {
            if (e.Data == "first line")
            {
                // Seen while the script still waits: the line came as it was written, not at the end.
                stateAtFirstLine = (await client.GetRunAsync(new GetRunRequest { Id = run.Id }, cancellationToken: Ct)).State;
                await File.WriteAllTextAsync(gate, "", Ct);
            }
        });
        Assert.Equal(RunState.Running, stateAtFirstLine);
        var lines = events.Where(e => e.Type == "message").ToList();
        Assert.Equal(Enumerable.Range(0, lines.Count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), lines.Select(e => e.Id));
        Assert.Contains("second line", lines.Select(e => e.Data));
        var end = events[^1];
        Assert.Equal("end", end.Type);
        var ended = JsonDocument.Parse(end.Data).RootElement;
        Assert.Equal("RUN_STATE_FAILED", ended.GetProperty("state").GetString());
        Assert.Equal("build script exited with code 4; its last output:\n  > first line\n  > second line", ended.GetProperty("failureReason").GetString());

        // A reconnect after event 1 gets line 2 on; fromLine does the same without the header; both end at once.
        var resumed = await FollowAsync(fixture.Rest, $"/buildgrid/v1/runs/{run.Id}/log?follow=true", lastEventId: "1");
        Assert.Equal(lines.Skip(2).Select(e => (e.Id, e.Data)), resumed.Where(e => e.Type == "message").Select(e => (e.Id, e.Data)));
        Assert.Equal("end", resumed[^1].Type);
        var from = await FollowAsync(fixture.Rest, $"/buildgrid/v1/runs/{run.Id}/log?follow=true&fromLine=3");
        Assert.Equal(lines.Skip(3).Select(e => e.Data), from.Where(e => e.Type == "message").Select(e => e.Data));

        // Without follow, the same path answers the stored page as before.
        var page = JsonDocument.Parse(await fixture.Rest.GetStringAsync($"/buildgrid/v1/runs/{run.Id}/log", Ct)).RootElement;
        Assert.Equal(lines.Count, page.GetProperty("lines").GetArrayLength());
    }

    [Fact]
    public async Task The_image_markets_idStr_is_followed_as_a_run()
    {
        Tools.Require("buildah", "buildah");
        var api = new ImageMarketApi(fixture.Rest);
        var name = ImageMarketApi.UniqueName("follow");
        Assert.Equal(10000, (await api.PostJsonAsync("/api/project/save", new Dictionary<string, object>
        {
            ["project"] = name, ["Cluster"] = "follow_cluster", ["addOrUpdate"] = "add", ["operator"] = "root",
            ["$$plugin"] = new object[] { new { name = "base-image", @params = new { image = "scratch" } }, new { name = "label", @params = new { labels = new { a = "b" } } } },
        })).Code);
        var build = await api.PostJsonAsync("/api/project/build", new { projectName = name, @operator = "root", tag = "1" });
        Assert.Equal(10000, build.Code);
        var events = await FollowAsync(fixture.Rest, $"/buildgrid/v1/runs/{build.Content.GetProperty("idStr").GetString()}/log?follow=true");
        Assert.Contains(events, e => e.Data.StartsWith("[buildgrid] pushed ", StringComparison.Ordinal));
        Assert.Equal("RUN_STATE_SUCCEEDED", JsonDocument.Parse(events[^1].Data).RootElement.GetProperty("state").GetString());
    }

    [Theory]
    [InlineData("fromLine=abc", null, HttpStatusCode.BadRequest, "fromLine must be a line number")]
    [InlineData("fromLine=-1", null, HttpStatusCode.BadRequest, "fromLine must be a line number")]
    [InlineData("", "not-a-number", HttpStatusCode.BadRequest, "Last-Event-ID must be a line number")]
    public async Task Bad_positions_are_refused_with_a_status_naming_them(string query, string? lastEventId, HttpStatusCode status, string message)
    {
        var run = await client.StartRunAsync(new StartRunRequest { Spec = Runs.Script("echo x") }, cancellationToken: Ct);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/buildgrid/v1/runs/{run.Id}/log?follow=true&{query}");
        if (lastEventId is not null)
            request.Headers.Add("Last-Event-ID", lastEventId);
        using var response = await fixture.Rest.SendAsync(request, Ct);
        Assert.Equal(status, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal(3, body.GetProperty("code").GetInt32());
        Assert.StartsWith(message, body.GetProperty("message").GetString());
    }

    [Fact]
    public async Task An_unknown_run_is_a_404_status()
    {
        using var response = await fixture.Rest.GetAsync($"/buildgrid/v1/runs/{Guid.NewGuid()}/log?follow=true", Ct);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal(5, body.GetProperty("code").GetInt32());
        Assert.Contains("not found", body.GetProperty("message").GetString());
    }
}
