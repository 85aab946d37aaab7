using System.Globalization;
using System.Collections.Concurrent;
using System.Text.Json;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Events;
using BuildGrid.Tests.Infrastructure;
using Grpc.Core;

namespace BuildGrid.Tests.Builds;

/// <summary>The build engine of a standalone host (embedded Garnet queue, in-process workers): real bash, real git.</summary>
[Collection(StandaloneCollection.Name)]
public sealed class BuildRunsTests(StandaloneFixture fixture) : IDisposable
{
    readonly BuildRuns.BuildRunsClient client = new(fixture.Channel);
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => fixture.AssertNoErrorsLogged();

    [Fact]
    public async Task A_script_runs_with_parameters_built_in_variables_and_outputs()
    {
        var spec = Runs.Script("""
            echo "hello from $PROJECT/$SERVICE"
            echo "greeting=$GREETING task=$TASK_ID"
            test -d "$WORKSPACE" && test "$PWD" = "$WORKSPACE" && echo "in workspace"
            echo "RESULT=42" >> "$BUILDGRID_OUTPUTS"
            echo "IGNORED=1" >> "$BUILDGRID_OUTPUTS"
            """);
        spec.Env["GREETING"] = "hi there";
        spec.Outputs.Add("RESULT");
        var run = await client.StartRunAsync(new StartRunRequest { Spec = spec, Project = "demo", Service = "api", Operator = "ana" }, cancellationToken: Ct);
        Assert.Equal(RunState.Queued, run.State);
        Assert.Equal(36, run.Id.Length);

        var done = await Runs.FinishedAsync(client, run.Id);
        Assert.Equal(RunState.Succeeded, done.State);
        Assert.Equal(1, done.Attempt);
        Assert.Equal("ana", done.Operator);
        Assert.Equal("42", done.Outputs["RESULT"]);
        Assert.False(done.Outputs.ContainsKey("IGNORED"));
        Assert.True(done.StartTime.ToDateTimeOffset() >= done.QueueTime.ToDateTimeOffset());
        Assert.True(done.FinishTime.ToDateTimeOffset() >= done.StartTime.ToDateTimeOffset());
        var log = await Runs.LogAsync(client, run.Id);
        Assert.Contains("hello from demo/api", log);
        Assert.Contains($"greeting=hi there task={run.Id}", log);
        Assert.Contains("in workspace", log);
    }

    [Fact]
    public async Task A_failing_script_fails_the_run_with_its_exit_code()
    {
        var run = await client.StartRunAsync(new StartRunRequest { Spec = Runs.Script("echo before\nexit 3\necho never") }, cancellationToken: Ct);
        var done = await Runs.FinishedAsync(client, run.Id);
        Assert.Equal(RunState.Failed, done.State);
        // The step, its exit code, and what it printed last, quoted.
        Assert.Equal("build script exited with code 3; its last output:\n  > before", done.FailureReason);
        var log = await Runs.LogAsync(client, run.Id);
        Assert.Contains("before", log);
        Assert.DoesNotContain("never", log);
    }

    [Fact]
    public async Task Secrets_are_masked_everywhere_in_the_log_and_outputs()
    {
        var spec = Runs.Script("echo \"token is $TOKEN\"\necho \"TOKEN_OUT=x${TOKEN}y\" >> $BUILDGRID_OUTPUTS\necho \"$TOKEN\" >&2\nexit 1");
        spec.Secrets["TOKEN"] = "s3cr3t-Value-123";
        spec.Outputs.Add("TOKEN_OUT");
        var run = await client.StartRunAsync(new StartRunRequest { Spec = spec }, cancellationToken: Ct);
        var done = await Runs.FinishedAsync(client, run.Id);
        var log = await Runs.LogAsync(client, run.Id);
        Assert.Contains("token is ***", log);
        Assert.DoesNotContain("s3cr3t-Value-123", log);
        Assert.DoesNotContain("s3cr3t-Value-123", done.ToString());
        // The stored spec keeps the secret encrypted: the database file never holds it in clear.
        var bytes = await File.ReadAllBytesAsync(Path.Combine(fixture.DataDir, "builds.db"), Ct);
        Assert.DoesNotContain("s3cr3t-Value-123", System.Text.Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public async Task A_timeout_kills_the_whole_process_tree()
    {
        var marker = $"171.{Random.Shared.Next(100000, 999999)}";
        var run = await client.StartRunAsync(new StartRunRequest { Spec = Runs.Script($"sleep {marker} &\nsleep {marker}1\n", timeoutSeconds: 2) }, cancellationToken: Ct);
        await Runs.WaitAsync(client, run.Id, r => r.State == RunState.Running);
        await Eventually.Async(() => Tools.ProcessesWith($"sleep {marker}").Count, n => n == 2);
        var done = await Runs.FinishedAsync(client, run.Id, 30);
        Assert.True(done.State == RunState.TimedOut, $"{done.State}: {done.FailureReason}");
        Assert.Equal("timed out after 2 second(s)", done.FailureReason);
        Assert.Empty(Tools.ProcessesWith($"sleep {marker}"));
    }

    [Fact]
    public async Task Cancel_kills_a_running_build_at_once_and_is_idempotent()
    {
        var marker = $"181.{Random.Shared.Next(100000, 999999)}";
        var run = await client.StartRunAsync(new StartRunRequest { Spec = Runs.Script($"echo started\n(sleep {marker}; echo child) &\nsleep {marker}\n") }, cancellationToken: Ct);
        await Runs.WaitAsync(client, run.Id, r => r.State == RunState.Running);
        await Eventually.Async(() => Tools.ProcessesWith($"sleep {marker}").Count, n => n >= 2);
        var started = DateTime.UtcNow;
        await client.CancelRunAsync(new CancelRunRequest { Id = run.Id }, cancellationToken: Ct);
        var done = await Runs.FinishedAsync(client, run.Id, 30);
        Assert.Equal(RunState.Cancelled, done.State);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10), "cancel took too long");
        Assert.Empty(Tools.ProcessesWith($"sleep {marker}"));
        var again = await client.CancelRunAsync(new CancelRunRequest { Id = run.Id }, cancellationToken: Ct);
        Assert.Equal(RunState.Cancelled, again.State);
        Assert.Equal(done.FinishTime, again.FinishTime);
    }

    [Fact]
    public async Task A_queued_run_shows_why_it_waits_and_cancels_without_starting()
    {
        // The standalone host runs two builds at once: the third waits.
        var blockers = new List<Run>();
        for (var i = 0; i < 2; i++)
            blockers.Add(await client.StartRunAsync(new StartRunRequest { Spec = Runs.Script("sleep 30") }, cancellationToken: Ct));
        foreach (var blocker in blockers)
            await Runs.WaitAsync(client, blocker.Id, r => r.State == RunState.Running);
        var waiting = await client.StartRunAsync(new StartRunRequest { Spec = Runs.Script("echo should-not-run") }, cancellationToken: Ct);
        var queued = await client.GetRunAsync(new GetRunRequest { Id = waiting.Id }, cancellationToken: Ct);
        Assert.Equal(RunState.Queued, queued.State);
        Assert.Contains("waiting for a free worker", queued.WaitingReason);

        var cancelled = await client.CancelRunAsync(new CancelRunRequest { Id = waiting.Id }, cancellationToken: Ct);
        Assert.Equal(RunState.Cancelled, cancelled.State);
        Assert.Equal(0, cancelled.Attempt);
        foreach (var blocker in blockers)
            await client.CancelRunAsync(new CancelRunRequest { Id = blocker.Id }, cancellationToken: Ct);
        foreach (var blocker in blockers)
            Assert.Equal(RunState.Cancelled, (await Runs.FinishedAsync(client, blocker.Id)).State);
        Assert.Equal(RunState.Cancelled, (await client.GetRunAsync(new GetRunRequest { Id = waiting.Id }, cancellationToken: Ct)).State);
        Assert.DoesNotContain("should-not-run", await Runs.LogAsync(client, waiting.Id));
    }

    [Fact]
    public async Task Repositories_are_checked_out_and_their_commits_recorded()
    {
        using var repo = await GitRepository.CreateAsync("release", new Dictionary<string, string> { ["README"] = "from git\n", ["src/app.txt"] = "app" });
        var spec = Runs.Script("cat \"$REPONAME_0/README\"\necho \"branch=$BRANCH_0 commit=$COMMIT_0\"");
        spec.Repos.Add(new RepoSpec { Url = repo.Url, Branch = "release" });
        var run = await client.StartRunAsync(new StartRunRequest { Spec = spec }, cancellationToken: Ct);
        var done = await Runs.FinishedAsync(client, run.Id);
        Assert.Equal(RunState.Succeeded, done.State);
        var checkout = Assert.Single(done.Checkouts);
        Assert.Equal(("app", "release", repo.Commit), (checkout.Name, checkout.Branch, checkout.Commit));
        var log = await Runs.LogAsync(client, run.Id);
        Assert.Contains("from git", log);
        Assert.Contains($"branch=release commit={repo.Commit}", log);

        var missing = Runs.Script("true");
        missing.Repos.Add(new RepoSpec { Url = repo.Url, Branch = "no-such-branch" });
        var failed = await Runs.FinishedAsync(client, (await client.StartRunAsync(new StartRunRequest { Spec = missing }, cancellationToken: Ct)).Id);
        Assert.Equal(RunState.Failed, failed.State);
        Assert.StartsWith("checkout of file://", failed.FailureReason);
        Assert.Contains("failed (git clone exited with code 128); its last output:", failed.FailureReason);
        Assert.Contains("no-such-branch", failed.FailureReason[failed.FailureReason.IndexOf("its last output", StringComparison.Ordinal)..]);
    }

    [Fact]
    public async Task Two_watchers_see_the_same_lines_live_and_the_stream_ends_with_the_run()
    {
        var run = await client.StartRunAsync(new StartRunRequest { Spec = Runs.Script("for i in $(seq 1 20); do echo line-$i; sleep 0.05; done") }, cancellationToken: Ct);
        async Task<List<string>> Watch()
        {
            using var call = client.WatchRunLog(new WatchRunLogRequest { Id = run.Id }, cancellationToken: Ct);
            var lines = new List<string>();
            await foreach (var line in call.ResponseStream.ReadAllAsync(Ct))
                lines.Add($"{line.Number}:{line.Text}");
            return lines;
        }
        var watchers = await Task.WhenAll(Watch(), Watch());
        Assert.Equal(watchers[0], watchers[1]);
        Assert.Equal(Enumerable.Range(1, 20).Select(i => $"line-{i}"), watchers[0].Select(l => l[(l.IndexOf(':') + 1)..]).Where(l => l.StartsWith("line-", StringComparison.Ordinal)));
        Assert.Equal(Enumerable.Range(0, watchers[0].Count).Select(i => i.ToString(CultureInfo.InvariantCulture)), watchers[0].Select(l => l[..l.IndexOf(':')]));

        var tail = client.WatchRunLog(new WatchRunLogRequest { Id = run.Id, FromLine = watchers[0].Count - 2 }, cancellationToken: Ct);
        var rest = new List<string>();
        await foreach (var line in tail.ResponseStream.ReadAllAsync(Ct)) rest.Add(line.Text);
        Assert.Equal(2, rest.Count);
        var read = await client.ReadRunLogAsync(new ReadRunLogRequest { Id = run.Id, FromLine = 0, MaxLines = 5 }, cancellationToken: Ct);
        Assert.Equal(5, read.Lines.Count);
        Assert.False(read.Complete);
    }

    public static TheoryData<string, string> BadSpecs => new()
    {
        { """{"script":"true","env":{"BAD-NAME":"x"}}""", "env" },
        { """{"script":"true","repos":[{"url":"file:///x","branch":"a..b"}]}""", "repos[0].branch" },
        { """{"script":"true","repos":[{"url":"--upload-pack=evil"}]}""", "repos[0].url" },
        { """{"script":"true","repos":[{"url":"file:///x","name":"../up"}]}""", "repos[0].name" },
        { """{"dockerBuild":{"image":"Upper/Case:1"}}""", "docker_build.image" },
        { """{"dockerBuild":{"image":"a/b:1","context":"../.."}}""", "docker_build" },
        { """{"dockerBuild":{"image":"a/b:1","buildArgs":["noequals"]}}""", "docker_build.build_args" },
        { """{"script":"true","timeoutMinutes":5000}""", "timeout_minutes" },
        { """{"script":"true","outputs":["bad name"]}""", "outputs" },
    };

    [Theory]
    [MemberData(nameof(BadSpecs))]
    public async Task Bad_specs_are_refused_naming_the_field(string specJson, string field)
    {
        var spec = Google.Protobuf.JsonParser.Default.Parse<RunSpec>(specJson);
        var e = await Assert.ThrowsAsync<RpcException>(() => client.StartRunAsync(new StartRunRequest { Spec = spec }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Equal(field, e.Info()!.Metadata["field"]);
    }

    [Fact]
    public async Task Unknown_runs_are_not_found()
    {
        foreach (var call in new Func<Task>[]
        {
            () => client.GetRunAsync(new GetRunRequest { Id = "nope" }, cancellationToken: Ct).ResponseAsync,
            () => client.CancelRunAsync(new CancelRunRequest { Id = "nope" }, cancellationToken: Ct).ResponseAsync,
            () => client.ReadRunLogAsync(new ReadRunLogRequest { Id = "nope" }, cancellationToken: Ct).ResponseAsync,
        })
        {
            var e = await Assert.ThrowsAsync<RpcException>(call);
            Assert.Equal(StatusCode.NotFound, e.StatusCode);
            Assert.Equal(Reasons.RunNotFound, e.Info()!.Reason);
        }
    }

    [Fact]
    public async Task A_run_publishes_queued_started_and_exactly_one_finished_event()
    {
        var bus = fixture.Services.GetRequiredService<InProcessEventBus>();
        var events = new ConcurrentQueue<CloudEvent>();
        using var a = bus.Subscribe("buildgrid.build.queued", (e, _) => { events.Enqueue(e); return Task.CompletedTask; });
        using var b = bus.Subscribe("buildgrid.build.started", (e, _) => { events.Enqueue(e); return Task.CompletedTask; });
        using var c = bus.Subscribe("buildgrid.build.finished", (e, _) => { events.Enqueue(e); return Task.CompletedTask; });
        var run = await client.StartRunAsync(new StartRunRequest { Spec = Runs.Script("echo ok"), Project = "evt" }, cancellationToken: Ct);
        await Runs.FinishedAsync(client, run.Id);
        var mine = await Eventually.Async(() => events.Where(e => e.Data.Contains(run.Id)).ToList(), l => l.Count >= 3);
        await Task.Delay(300, Ct);
        mine = events.Where(e => e.Data.Contains(run.Id)).ToList();
        Assert.Equal(["buildgrid.build.queued", "buildgrid.build.started", "buildgrid.build.finished"], mine.Select(e => e.Topic));
        var finished = JsonDocument.Parse(mine[2].Data).RootElement;
        Assert.Equal("succeeded", finished.GetProperty("status").GetString());
        Assert.Equal(1, finished.GetProperty("attempt").GetInt32());
        Assert.True(finished.GetProperty("durationSeconds").GetDouble() >= 0);
    }
}
