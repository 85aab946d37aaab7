using System.Data.Common;
using System.Text.Json;
using BuildGrid.Builds.Domain;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Events;
using BuildGrid.Core.Storage;
using BuildGrid.Events.V1;
using Dapper;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.DataProtection;

namespace BuildGrid.Builds.Storage;

/// <summary>
/// All SQL of runs and their logs. SQL is the arbiter of a run's life: a worker owns a run only through the
/// conditional updates here (claim, renew, finish), so a duplicate queue entry or a late worker can never run it twice
/// at once or overwrite a result. Every state change commits its integration event in the same transaction.
/// </summary>
public sealed class RunStore([FromKeyedServices(BuildsExtensions.AppId)] ServiceDatabase db, Outbox outbox, IDataProtectionProvider protection,
    TimeProvider time)
{
    const string Columns = """
        id AS Id, kind AS Kind, project AS Project, definition AS Definition, service AS Service, service_module AS ServiceModule,
        tag AS Tag, image AS Image, spec AS Spec, state AS State, operator AS Operator, queued_at AS QueuedAt, started_at AS StartedAt,
        finished_at AS FinishedAt, image_digest AS ImageDigest, failure_reason AS FailureReason, attempt AS Attempt,
        max_attempts AS MaxAttempts, worker AS Worker, cancel_requested AS CancelRequested, outputs AS Outputs,
        checkouts AS Checkouts, timeout_minutes AS TimeoutMinutes, log_lines AS LogLines, trace_parent AS TraceParent, namespace AS Namespace,
        sandbox AS Sandbox
        """;

    static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default);
    static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));
    readonly IDataProtector secrets = protection.CreateProtector("BuildGrid.Builds.RunSecrets");

    long Now() => time.GetUtcNow().ToUnixTimeMilliseconds();

    public async Task InsertAsync(Run run, RunSpec spec, CancellationToken cancellationToken)
    {
        db.RequireRoom();
        var stored = spec.Clone();
        foreach (var key in stored.Secrets.Keys.ToList())
            stored.Secrets[key] = secrets.Protect(stored.Secrets[key]);
        foreach (var repo in stored.Repos)
        {
            // A token in a clone URL is kept apart from it, encrypted, as code-host tokens are.
            var (url, username, secret) = Domain.GitCredentials.Split(repo.Url);
            if (secret is not null)
                (repo.Url, repo.Username, repo.Password) = (url, repo.Password.Length > 0 ? repo.Username : username!, repo.Password.Length > 0 ? repo.Password : secret);
            if (repo.Password.Length > 0)
                repo.Password = secrets.Protect(repo.Password);
        }
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO runs (id, kind, project, definition, service, service_module, tag, image, spec, state, operator, queued_at,
                enqueued_at, max_attempts, timeout_minutes, trace_parent, namespace)
            VALUES (@Id, @Kind, @Project, @Definition, @Service, @ServiceModule, @Tag, @Image, @Spec, @State, @Operator, @QueuedAt,
                @QueuedAt, @MaxAttempts, @TimeoutMinutes, @TraceParent, @Namespace)
            """, new
        {
            run.Id, run.Kind, run.Project, run.Definition, run.Service, run.ServiceModule, run.Tag, run.Image,
            Spec = Formatter.Format(stored), State = (int)RunState.Queued, run.Operator,
            QueuedAt = run.QueueTime.ToDateTimeOffset().ToUnixTimeMilliseconds(), run.MaxAttempts, run.TimeoutMinutes,
            TraceParent = System.Diagnostics.Activity.Current?.Id ?? "", run.Namespace,
        }, tx, cancellationToken: cancellationToken));
        await outbox.AddAsync(connection, tx, new BuildQueued
        {
            RunId = run.Id, Project = run.Project, Definition = run.Definition, Tag = run.Tag, Image = run.Image,
            Operator = run.Operator, Time = run.QueueTime,
        }, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        outbox.Wake(db);
    }

    public async Task<Run?> GetAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<RunRow>(new CommandDefinition(
            $"SELECT {Columns} FROM runs WHERE id = @id", new { id }, cancellationToken: cancellationToken));
        if (row is null)
            return null;
        var run = row.ToProto();
        if (run.State == RunState.Queued)
        {
            run.QueuePosition = await connection.ExecuteScalarAsync<int>(new CommandDefinition(
                "SELECT COUNT(*) FROM runs WHERE state = @queued AND queued_at < @at", new { queued = (int)RunState.Queued, at = row.QueuedAt },
                cancellationToken: cancellationToken));
            var running = await connection.ExecuteScalarAsync<int>(new CommandDefinition(
                "SELECT COUNT(*) FROM runs WHERE state = @running", new { running = (int)RunState.Running }, cancellationToken: cancellationToken));
            run.WaitingReason = run.QueuePosition > 0
                ? $"{run.QueuePosition} run(s) ahead in the queue; {running} running"
                : running > 0 ? $"first in the queue; waiting for a free worker ({running} running)" : "first in the queue; waiting for a worker";
        }
        return run;
    }

    /// <summary>A page of runs, newest first; <paramref name="namespaces"/> (null: all) limits it to the runs the caller may read.</summary>
    public async Task<(IReadOnlyList<Run> Runs, long Total)> ListAsync(string project, string definition, IReadOnlyCollection<string>? namespaces,
        int offset, int limit, CancellationToken cancellationToken)
    {
        var filters = new List<string>();
        var parameters = new DynamicParameters(new { project, definition, offset, limit });
        if (project.Length > 0) filters.Add("project = @project");
        if (definition.Length > 0) filters.Add("definition = @definition");
        if (namespaces is not null) filters.Add(namespaces.Count == 0 ? "1 = 0" : "namespace IN " + SqlText.InList(parameters, "ns", namespaces));
        var where = filters.Count > 0 ? "WHERE " + string.Join(" AND ", filters) : "";
        await using var connection = await db.OpenAsync(cancellationToken);
        var total = await connection.ExecuteScalarAsync<long>(new CommandDefinition($"SELECT COUNT(*) FROM runs {where}", parameters,
            cancellationToken: cancellationToken));
        var rows = await connection.QueryAsync<RunRow>(new CommandDefinition(
            $"SELECT {Columns} FROM runs {where} ORDER BY queued_at DESC, id DESC {db.Dialect.Page}", parameters, cancellationToken: cancellationToken));
        return (rows.Select(r => r.ToProto()).ToList(), total);
    }

    /// <summary>Takes a queued run for <paramref name="worker"/>; null when it is not queued any more (claimed, cancelled, gone).</summary>
    public async Task<(Run Run, RunSpec Spec)?> ClaimAsync(string id, string worker, TimeSpan lease, CancellationToken cancellationToken)
    {
        var now = Now();
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var claimed = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE runs SET state = @running, attempt = attempt + 1, worker = @worker, started_at = @now, lease_until = @lease
            WHERE id = @id AND state = @queued AND cancel_requested = 0
            """, new { id, worker, now, lease = now + (long)lease.TotalMilliseconds, running = (int)RunState.Running, queued = (int)RunState.Queued },
            tx, cancellationToken: cancellationToken));
        if (claimed != 1)
        {
            await tx.RollbackAsync(cancellationToken);
            return null;
        }
        var row = await connection.QuerySingleAsync<RunRow>(new CommandDefinition($"SELECT {Columns} FROM runs WHERE id = @id", new { id }, tx,
            cancellationToken: cancellationToken));
        var run = row.ToProto();
        await outbox.AddAsync(connection, tx, new BuildStarted
        {
            RunId = id, Project = run.Project, Definition = run.Definition, Attempt = run.Attempt, Worker = worker, Time = run.StartTime,
        }, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        outbox.Wake(db);
        var spec = Parser.Parse<RunSpec>(row.Spec);
        foreach (var key in spec.Secrets.Keys.ToList())
            spec.Secrets[key] = secrets.Unprotect(spec.Secrets[key]);
        foreach (var repo in spec.Repos.Where(r => r.Password.Length > 0))
            repo.Password = secrets.Unprotect(repo.Password);
        return (run, spec);
    }

    /// <summary>Extends the lease of a run this worker still owns; Owned=false means stop (someone else took it over).</summary>
    public async Task<(bool Owned, bool CancelRequested)> RenewAsync(string id, string worker, int attempt, TimeSpan lease, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var renewed = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE runs SET lease_until = @lease WHERE id = @id AND worker = @worker AND attempt = @attempt AND state = @running
            """, new { id, worker, attempt, lease = Now() + (long)lease.TotalMilliseconds, running = (int)RunState.Running },
            cancellationToken: cancellationToken));
        if (renewed != 1)
            return (false, false);
        var cancel = await connection.ExecuteScalarAsync<int>(new CommandDefinition("SELECT cancel_requested FROM runs WHERE id = @id",
            new { id }, cancellationToken: cancellationToken));
        return (true, cancel != 0);
    }

    /// <summary>Records how the worker isolates the attempt it owns (shown on the run while it runs and after).</summary>
    public async Task RecordSandboxAsync(Run run, string worker, RunSandbox sandbox, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE runs SET sandbox = @sandbox WHERE id = @id AND worker = @worker AND attempt = @attempt AND state = @running
            """, new { id = run.Id, worker, attempt = run.Attempt, sandbox = Formatter.Format(sandbox), running = (int)RunState.Running },
            cancellationToken: cancellationToken));
    }

    public sealed record Outcome(RunState State, string ImageDigest, string FailureReason, IDictionary<string, string> Outputs,
        IReadOnlyList<RepoCheckout> Checkouts);

    /// <summary>Records the end of an attempt this worker owns; false when it no longer owns it (the result is dropped).</summary>
    public async Task<bool> FinishAsync(Run run, string worker, Outcome outcome, CancellationToken cancellationToken)
    {
        var now = Now();
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var finished = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE runs SET state = @state, finished_at = @now, image_digest = @digest, failure_reason = @reason, outputs = @outputs,
                checkouts = @checkouts, lease_until = NULL
            WHERE id = @id AND worker = @worker AND attempt = @attempt AND state = @running
            """, new
        {
            id = run.Id, worker, attempt = run.Attempt, now, state = (int)outcome.State, digest = outcome.ImageDigest,
            reason = Truncate(outcome.FailureReason, 2000), outputs = JsonSerializer.Serialize(outcome.Outputs),
            checkouts = "[" + string.Join(",", outcome.Checkouts.Select(c => Formatter.Format(c))) + "]", running = (int)RunState.Running,
        }, tx, cancellationToken: cancellationToken));
        if (finished != 1)
        {
            await tx.RollbackAsync(cancellationToken);
            return false;
        }
        await outbox.AddAsync(connection, tx, new BuildFinished
        {
            RunId = run.Id, Project = run.Project, Definition = run.Definition, Service = run.Service, Tag = run.Tag,
            Status = RunStates.Name(outcome.State), Image = run.Image, ImageDigest = outcome.ImageDigest,
            Commit = outcome.Checkouts.Count > 0 ? outcome.Checkouts[0].Commit : "", Branch = outcome.Checkouts.Count > 0 ? outcome.Checkouts[0].Branch : "", FailureReason = outcome.FailureReason, Attempt = run.Attempt,
            DurationSeconds = (now - run.StartTime.ToDateTimeOffset().ToUnixTimeMilliseconds()) / 1000.0,
            Time = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(now)),
        }, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        outbox.Wake(db);
        return true;
    }

    /// <summary>
    /// Gives back a run this worker stopped because it shuts down: queued again at once for its next attempt (no wait for
    /// the lease to lapse), or failed with <paramref name="reason"/> when that was its last attempt. False when the
    /// worker no longer owns it.
    /// </summary>
    public async Task<bool> ReleaseAtShutdownAsync(Run run, string worker, string reason, CancellationToken cancellationToken)
    {
        var now = Now();
        var retry = run.Attempt < run.MaxAttempts;
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var changed = await connection.ExecuteAsync(new CommandDefinition(retry
            ? "UPDATE runs SET state = @queued, worker = '', lease_until = NULL, enqueued_at = @now WHERE id = @id AND worker = @worker AND attempt = @attempt AND state = @running"
            : "UPDATE runs SET state = @failed, lease_until = NULL, finished_at = @now, failure_reason = @reason WHERE id = @id AND worker = @worker AND attempt = @attempt AND state = @running",
            new { id = run.Id, worker, attempt = run.Attempt, now, reason, queued = (int)RunState.Queued, failed = (int)RunState.Failed, running = (int)RunState.Running },
            tx, cancellationToken: cancellationToken));
        if (changed != 1)
        {
            await tx.RollbackAsync(cancellationToken);
            return false;
        }
        await outbox.AddAsync(connection, tx, new BuildFinished
        {
            RunId = run.Id, Project = run.Project, Definition = run.Definition, Service = run.Service, Tag = run.Tag,
            Status = retry ? "requeued" : "failed", Image = run.Image, FailureReason = reason, Attempt = run.Attempt,
            Time = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(now)),
        }, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        outbox.Wake(db);
        return true;
    }

    /// <summary>Cancels a queued run at once, or flags a running one for its worker; finished runs stay as they are.</summary>
    public async Task<Run?> RequestCancelAsync(string id, CancellationToken cancellationToken)
    {
        var now = Now();
        await using (var connection = await db.OpenAsync(cancellationToken))
        await using (var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken))
        {
            var row = await connection.QuerySingleOrDefaultAsync<RunRow>(new CommandDefinition($"SELECT {Columns} FROM runs WHERE id = @id",
                new { id }, tx, cancellationToken: cancellationToken));
            if (row is null)
                return null;
            if (row.State == (int)RunState.Queued)
            {
                await connection.ExecuteAsync(new CommandDefinition("""
                    UPDATE runs SET state = @cancelled, cancel_requested = 1, finished_at = @now, failure_reason = 'cancelled before it started'
                    WHERE id = @id AND state = @queued
                    """, new { id, now, cancelled = (int)RunState.Cancelled, queued = (int)RunState.Queued }, tx, cancellationToken: cancellationToken));
                await outbox.AddAsync(connection, tx, new BuildFinished
                {
                    RunId = id, Project = row.Project, Definition = row.Definition, Service = row.Service, Tag = row.Tag, Status = "cancelled",
                    Image = row.Image, FailureReason = "cancelled before it started", Attempt = (int)row.Attempt,
                    Time = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(now)),
                }, cancellationToken);
            }
            else if (row.State == (int)RunState.Running)
            {
                await connection.ExecuteAsync(new CommandDefinition("UPDATE runs SET cancel_requested = 1 WHERE id = @id", new { id }, tx,
                    cancellationToken: cancellationToken));
            }
            await tx.CommitAsync(cancellationToken);
        }
        outbox.Wake(db);
        return await GetAsync(id, cancellationToken);
    }

    /// <summary>
    /// Runs whose worker stopped renewing: each goes back to the queue for another attempt (returned), or fails once its
    /// attempts are spent. Safe to run in every process at once: each change is conditional on the lapsed lease.
    /// </summary>
    public async Task<IReadOnlyList<string>> RecoverLapsedAsync(CancellationToken cancellationToken)
    {
        var now = Now();
        var requeued = new List<string>();
        await using var connection = await db.OpenAsync(cancellationToken);
        var lapsed = (await connection.QueryAsync<RunRow>(new CommandDefinition(
            $"SELECT {Columns} FROM runs WHERE state = @running AND lease_until < @now", new { now, running = (int)RunState.Running },
            cancellationToken: cancellationToken))).ToList();
        foreach (var row in lapsed)
        {
            await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
            var retry = row.Attempt < row.MaxAttempts && row.CancelRequested == 0;
            var reason = row.CancelRequested != 0
                ? "cancelled; its worker stopped responding"
                : $"worker {row.Worker} stopped responding (attempt {row.Attempt} of {row.MaxAttempts})";
            var changed = await connection.ExecuteAsync(new CommandDefinition(retry
                ? "UPDATE runs SET state = @queued, worker = '', lease_until = NULL, enqueued_at = @now WHERE id = @id AND state = @running AND attempt = @attempt AND lease_until < @now"
                : "UPDATE runs SET state = @final, lease_until = NULL, finished_at = @now, failure_reason = @reason WHERE id = @id AND state = @running AND attempt = @attempt AND lease_until < @now",
                new
                {
                    id = row.Id, now, attempt = row.Attempt, reason, queued = (int)RunState.Queued, running = (int)RunState.Running,
                    final = (int)(row.CancelRequested != 0 ? RunState.Cancelled : RunState.Failed),
                }, tx, cancellationToken: cancellationToken));
            if (changed == 1)
            {
                await outbox.AddAsync(connection, tx, new BuildFinished
                {
                    RunId = row.Id, Project = row.Project, Definition = row.Definition, Service = row.Service, Tag = row.Tag,
                    Status = retry ? "requeued" : row.CancelRequested != 0 ? "cancelled" : "failed", Image = row.Image,
                    FailureReason = reason, Attempt = (int)row.Attempt, Time = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(now)),
                }, cancellationToken);
                if (retry)
                    requeued.Add(row.Id);
            }
            await tx.CommitAsync(cancellationToken);
        }
        if (lapsed.Count > 0)
            outbox.Wake(db);
        return requeued;
    }

    /// <summary>Queued runs last pushed to Redis before <paramref name="before"/> (Redis may have lost them); marks them pushed now.</summary>
    public async Task<IReadOnlyList<string>> StaleQueuedAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        var now = Now();
        await using var connection = await db.OpenAsync(cancellationToken);
        var ids = (await connection.QueryAsync<string>(new CommandDefinition(
            $"SELECT id FROM runs WHERE state = @queued AND enqueued_at < @before ORDER BY queued_at {db.Dialect.Page}",
            new { queued = (int)RunState.Queued, before = before.ToUnixTimeMilliseconds(), offset = 0, limit = 1000 },
            cancellationToken: cancellationToken))).ToList();
        if (ids.Count > 0)
            await connection.ExecuteAsync(new CommandDefinition("UPDATE runs SET enqueued_at = @now WHERE id = @id",
                ids.Select(id => new { id, now }), cancellationToken: cancellationToken));
        return ids;
    }

    public async Task AppendLogAsync(string id, long firstLine, IReadOnlyList<(string Text, long At)> lines, CancellationToken cancellationToken)
    {
        if (lines.Count == 0)
            return;
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("INSERT INTO run_logs (run_id, line, text, at) VALUES (@id, @line, @text, @at)",
            lines.Select((l, i) => new { id, line = firstLine + i, text = Truncate(l.Text, 4000), at = l.At }), tx, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition("UPDATE runs SET log_lines = @count WHERE id = @id",
            new { id, count = firstLine + lines.Count }, tx, cancellationToken: cancellationToken));
        await tx.CommitAsync(cancellationToken);
    }

    /// <summary>Log lines from <paramref name="fromLine"/> (a retried run's attempts follow each other in one log).</summary>
    public async Task<IReadOnlyList<LogLine>> ReadLogAsync(string id, long fromLine, int maxLines, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<(long Line, string Text, long At)>(new CommandDefinition(
            $"SELECT line, text, at FROM run_logs WHERE run_id = @id AND line >= @fromLine ORDER BY line {db.Dialect.Page}",
            new { id, fromLine, offset = 0, limit = maxLines }, cancellationToken: cancellationToken));
        return rows.Select(r => new LogLine { Number = r.Line, Text = r.Text, Time = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(r.At)) }).ToList();
    }

    /// <summary>The number of stored log lines of a run (where a new attempt continues).</summary>
    public async Task<long> LogLengthAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition("SELECT log_lines FROM runs WHERE id = @id", new { id },
            cancellationToken: cancellationToken));
    }

    static string Truncate(string text, int max) => text.Length <= max ? text : text[..max];

    sealed class RunRow
    {
        public string Id { get; init; } = "";
        public string Kind { get; init; } = "";
        public string Project { get; init; } = "";
        public string Definition { get; init; } = "";
        public string Service { get; init; } = "";
        public string ServiceModule { get; init; } = "";
        public string Tag { get; init; } = "";
        public string Image { get; init; } = "";
        public string Spec { get; init; } = "{}";
        public long State { get; init; }
        public string Operator { get; init; } = "";
        public long QueuedAt { get; init; }
        public long? StartedAt { get; init; }
        public long? FinishedAt { get; init; }
        public string ImageDigest { get; init; } = "";
        public string FailureReason { get; init; } = "";
        public long Attempt { get; init; }
        public long MaxAttempts { get; init; }
        public string Worker { get; init; } = "";
        public long CancelRequested { get; init; }
        public string Outputs { get; init; } = "{}";
        public string Checkouts { get; init; } = "[]";
        public long TimeoutMinutes { get; init; }
        public long LogLines { get; init; }
        public string TraceParent { get; init; } = "";
        public string Namespace { get; init; } = "";
        public string Sandbox { get; init; } = "";

        static Timestamp? Time(long? ms) => ms is { } value ? Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(value)) : null;

        public Run ToProto()
        {
            var run = new Run
            {
                Id = Id, Kind = Kind, Project = Project, Definition = Definition, Service = Service, ServiceModule = ServiceModule, Tag = Tag,
                Image = Image, State = (RunState)State, Operator = Operator, QueueTime = Time(QueuedAt), StartTime = Time(StartedAt),
                FinishTime = Time(FinishedAt), ImageDigest = ImageDigest, FailureReason = FailureReason, Attempt = (int)Attempt,
                MaxAttempts = (int)MaxAttempts, Worker = Worker, TimeoutMinutes = (int)TimeoutMinutes, TraceParent = TraceParent,
                Namespace = Namespace, Sandbox = Sandbox.Length > 0 ? Parser.Parse<RunSandbox>(Sandbox) : null,
            };
            foreach (var (key, value) in JsonSerializer.Deserialize<Dictionary<string, string>>(Outputs) ?? [])
                run.Outputs[key] = value;
            using var checkouts = JsonDocument.Parse(Checkouts);
            foreach (var checkout in checkouts.RootElement.EnumerateArray())
                run.Checkouts.Add(Parser.Parse<RepoCheckout>(checkout.GetRawText()));
            return run;
        }
    }
}
