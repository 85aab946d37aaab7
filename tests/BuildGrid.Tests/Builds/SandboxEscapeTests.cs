using BuildGrid.Standalone;
using System.Text.Json;
using BuildGrid.Builds.V1;
using BuildGrid.Gateway.Hosting;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// A hostile build script, as a developer of one namespace could write it, tries every escape of issue 15 on the
/// standalone host (real bwrap sandbox, real workers): read BuildGrid's data dir, identity.db, the embedded Garnet's password
/// and another run's workspace; connect to BuildGrid's REST and gRPC ports and to Garnet (Redis) on 127.0.0.1; reach
/// 169.254.169.254; write outside its workspace; see host processes; kill another run; exceed its memory and process
/// limits; leave a process behind. Each attempt fails, the honest part of the same script still runs, and the run's API
/// record says how it was isolated. The same script on a host with Builds:Sandbox=none shows that each assertion can fail.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class SandboxEscapeTests(StandaloneFixture fixture) : IDisposable
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => fixture.AssertNoErrorsLogged();

    /// <summary>Every attempt prints "ESCAPE name" when it got through (as seen from inside) and "blocked name" when not.</summary>
    const string Hostile = """
        set +e
        echo "honest: start in $PWD"
        try() { local name=$1; shift; if ( "$@" ) >/dev/null 2>&1; then echo "ESCAPE $name"; else echo "blocked $name"; fi; }
        try data-dir        bash -c 'ls "$DATA" | grep -q "\.db$"'
        try identity-db     bash -c 'head -c 15 "$DATA/identity.db" | grep -q "SQLite format 3"'
        try keys            bash -c 'test -s "$DATA/garnet/password"'
        try other-workspace bash -c 'grep -q victim-secret "$VICTIM_WORKSPACE/marker"'
        try rest-port       timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$REST_PORT'
        try grpc-port       timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$GRPC_PORT'
        try redis-port      timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT'
        try localhost-rest  timeout 5 bash -c 'exec 3<>/dev/tcp/localhost/$REST_PORT'
        try metadata        timeout 5 bash -c 'exec 3<>/dev/tcp/169.254.169.254/80'
        # Writes outside the workspace: the test looks for these files on the host.
        for target in "$DATA/escape-$MARK" "/etc/escape-$MARK" "/usr/local/escape-$MARK" "/tmp/escape-$MARK"; do echo x 2>/dev/null > "$target"; done
        try host-processes  test -e "/proc/$HOST_PID/status"
        echo "processes seen: $(ls /proc | grep -c '^[0-9]')"
        try kill-other-run  kill -9 "$VICTIM_PID"
        try memory          bash -c 'x=$(head -c 1000M /dev/zero | tr "\0" a); test ${#x} -eq 1048576000'
        started=$(timeout -s KILL 20 bash -c 'n=0; for i in $(seq 300); do (sleep 4) 2>/dev/null & n=$((n+1)); done; echo $n' 2>/dev/null)
        if [ "${started:-0}" -ge 300 ]; then echo "ESCAPE pids"; else echo "blocked pids"; fi
        sleep 5
        # A process that tries to outlive the run: its own session, its own process group, detached from the script.
        setsid bash -c "exec -a leftover-$MARK sleep 300" </dev/null >/dev/null 2>&1 &
        echo "honest: cache" > "$CACHE_DIR/note" && cat "$CACHE_DIR/note"
        echo "RESULT=ok-$((6 * 7))" >> "$BUILDGRID_OUTPUTS"
        echo "honest: end"
        """;

    static readonly string[] Escapes =
        ["data-dir", "identity-db", "keys", "other-workspace", "rest-port", "grpc-port", "redis-port", "localhost-rest", "host-processes", "kill-other-run", "memory", "pids"];

    sealed record Attempt(Run Hostile, Run Victim, string Log, string Mark, bool LeftoverAlive, string[] WrittenOutside);

    /// <summary>
    /// Starts a victim run that holds a secret in its workspace and waits, then the hostile run with the victim's pid and
    /// workspace and the host's ports; then lets the victim finish and reports what got through.
    /// </summary>
    static async Task<Attempt> AttackAsync(BuildRuns.BuildRunsClient client, string dataDir, Uri rest, Uri grpc, string redis)
    {
        var mark = Guid.NewGuid().ToString("N")[..12];
        var victim = await client.StartRunAsync(new StartRunRequest
        {
            Spec = Runs.Script("echo victim-secret > \"$WORKSPACE/marker\"\necho victim ready\nwhile [ ! -f \"$WORKSPACE/go\" ]; do sleep 0.1; done\necho victim done", 180),
        }, cancellationToken: Ct);
        await Runs.WaitAsync(client, victim.Id, r => r.State == RunState.Running, 60);
        var victimWorkspace = Path.Combine(dataDir, "builds", "workspaces", $"{victim.Id}-1");
        await Eventually.Async(() => File.Exists(Path.Combine(victimWorkspace, "marker")), exists => exists, 30_000);
        var victimPid = ScriptProcess(victim.Id) ?? throw new InvalidOperationException("the victim's script process was not found");

        var spec = Runs.Script(Hostile, 180);
        spec.Env["DATA"] = dataDir;
        spec.Env["VICTIM_WORKSPACE"] = victimWorkspace;
        spec.Env["VICTIM_PID"] = victimPid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        spec.Env["HOST_PID"] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        spec.Env["REST_PORT"] = rest.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        spec.Env["GRPC_PORT"] = grpc.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        spec.Env["REDIS_PORT"] = redis.Split(':')[^1];
        spec.Env["MARK"] = mark;
        // A secret stored with the run (encrypted by the key ring in builds.db); the keys escape reads the embedded Garnet's password.
        spec.Secrets["TOKEN"] = "hostile-" + mark;
        spec.Outputs.Add("RESULT");
        spec.Resources = new RunResources { MemoryLimitMib = 384, PidsLimit = 64 };
        var hostile = await client.StartRunAsync(new StartRunRequest { Spec = spec, Project = "hostile", Operator = "mallory" }, cancellationToken: Ct);
        var done = await Runs.FinishedAsync(client, hostile.Id, 150);
        var log = await Runs.LogAsync(client, hostile.Id);

        if (Directory.Exists(victimWorkspace))   // without the sandbox the hostile run killed the victim and its workspace is gone
            await File.WriteAllTextAsync(Path.Combine(victimWorkspace, "go"), "", Ct);
        var victimDone = await Runs.FinishedAsync(client, victim.Id, 60);

        var leftover = ProcessesWith($"leftover-{mark}");
        foreach (var pid in leftover)
        {
            try { System.Diagnostics.Process.GetProcessById(pid).Kill(); }
            catch (ArgumentException) { }
        }
        string[] targets = [Path.Combine(dataDir, $"escape-{mark}"), $"/etc/escape-{mark}", $"/usr/local/escape-{mark}", $"/tmp/escape-{mark}"];
        var written = targets.Where(File.Exists).ToArray();
        foreach (var file in written)
            File.Delete(file);
        return new Attempt(done, victimDone, log, mark, leftover.Count > 0, written);
    }

    /// <summary>The host pid of a run's build script (bash --noprofile --norc -e …/&lt;run&gt;-1/.buildgrid/script.sh).</summary>
    static int? ScriptProcess(string runId)
    {
        foreach (var pid in ProcessesWith($"{runId}-1/.buildgrid/script.sh"))
        {
            var argv = ReadCommandLine(pid);
            if (argv.Length > 1 && Path.GetFileName(argv[0]) == "bash" && argv[1] == "--noprofile")
                return pid;
        }
        return null;
    }

    static List<int> ProcessesWith(string text)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
                continue;
            if (ReadCommandLine(pid).Any(a => a.Contains(text, StringComparison.Ordinal)))
                found.Add(pid);
        }
        return found;
    }

    static string[] ReadCommandLine(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries); }
        catch (IOException) { return []; }
        catch (UnauthorizedAccessException) { return []; }
    }

    [Fact]
    public async Task A_hostile_script_reaches_nothing_but_its_workspace_and_its_honest_part_still_runs()
    {
        var client = new BuildRuns.BuildRunsClient(fixture.Channel);
        var redis = fixture.Services.GetRequiredService<EmbeddedGarnet>().Endpoint!;
        var attempt = await AttackAsync(client, fixture.DataDir, fixture.RestUrl, fixture.GrpcUrl, redis);

        foreach (var escape in Escapes.Append("metadata"))
        {
            Assert.DoesNotContain($"ESCAPE {escape}\n", attempt.Log + "\n");
            Assert.Contains($"blocked {escape}\n", attempt.Log + "\n");
        }
        Assert.Empty(attempt.WrittenOutside);
        Assert.False(attempt.LeftoverAlive, "a process of the run outlived it");
        // The other run was neither read nor killed: it finished normally once told to.
        Assert.Equal(RunState.Succeeded, attempt.Victim.State);
        Assert.Contains("victim done", await Runs.LogAsync(client, attempt.Victim.Id));

        // The honest part ran: its outputs, its cache dir, its log.
        Assert.Equal(RunState.Succeeded, attempt.Hostile.State);
        Assert.Equal("ok-42", attempt.Hostile.Outputs["RESULT"]);
        Assert.Contains("honest: cache", attempt.Log);
        Assert.Contains("honest: end", attempt.Log);
        Assert.Matches(@"processes seen: [1-9]\b", attempt.Log);

        // The API says how the run was isolated, and whether its limits were enforced by the kernel.
        Assert.Equal("local-sandbox", attempt.Hostile.Sandbox.Executor);
        Assert.True(attempt.Hostile.Sandbox.Uid > 0, $"uid {attempt.Hostile.Sandbox.Uid}");
        Assert.NotEqual(attempt.Hostile.Sandbox.Uid, attempt.Victim.Sandbox.Uid);
        Assert.Equal(384, attempt.Hostile.Sandbox.MemoryLimitMib);
        Assert.Equal(64, attempt.Hostile.Sandbox.PidsLimit);
        using var response = await fixture.Rest.GetAsync($"/buildgrid/v1/runs/{attempt.Hostile.Id}", Ct);
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}");
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        var sandbox = json.RootElement.GetProperty("sandbox");
        Assert.Equal("local-sandbox", sandbox.GetProperty("executor").GetString());
        Assert.NotEqual("host", sandbox.GetProperty("network").GetString());
        var enforced = sandbox.TryGetProperty("limits_enforced", out var value) && value.GetBoolean();
        Assert.Equal(sandbox.GetProperty("limits").GetString() == "cgroup-v2", enforced);

        // The host is healthy: the same worker runs the next build at once.
        var next = await client.StartRunAsync(new StartRunRequest { Spec = Runs.Script("echo still fine") }, cancellationToken: Ct);
        Assert.Equal(RunState.Succeeded, (await Runs.FinishedAsync(client, next.Id)).State);
    }

    [Fact]
    public async Task The_same_script_escapes_everywhere_with_Builds_Sandbox_none()
    {
        // The development escape hatch, once: without the sandbox every assertion above fails. 169.254.169.254 is not
        // part of it: this machine has no route there either way.
        var dataDir = TestDirectories.Create("unsandboxed");
        var (app, rest, grpc) = await StandaloneFixture.StartAsync(dataDir, null, "--Builds:Sandbox=none");
        try
        {
            using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(grpc);
            var client = new BuildRuns.BuildRunsClient(channel);
            var redis = app.Services.GetRequiredService<EmbeddedGarnet>().Endpoint!;
            var attempt = await AttackAsync(client, dataDir, rest, grpc, redis);

            foreach (var escape in Escapes)
                Assert.Contains($"ESCAPE {escape}\n", attempt.Log + "\n");
            Assert.Contains(Path.Combine(dataDir, $"escape-{attempt.Mark}"), attempt.WrittenOutside);
            Assert.Contains($"/etc/escape-{attempt.Mark}", attempt.WrittenOutside);
            Assert.True(attempt.LeftoverAlive, "without the sandbox a detached process outlives the run");
            Assert.NotEqual(RunState.Succeeded, attempt.Victim.State);
            Assert.Equal("none", attempt.Hostile.Sandbox.Executor);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
            TestDirectories.TryDelete(dataDir);
        }
    }
}
