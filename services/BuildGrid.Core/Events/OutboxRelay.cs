using BuildGrid.Core.Hosting;
using BuildGrid.Core.Storage;
using Dapper;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BuildGrid.Core.Events;

/// <summary>
/// Publishes a database's unsent outbox rows in id order, marks them sent, and retries failures with backoff.
/// Runs in every process that owns the database; rows are claimed by id order within one relay, and a row published
/// twice after a crash between publish and mark is deduplicated by subscribers (the inbox, keyed by event id).
/// </summary>
public sealed class OutboxRelay(ServiceDatabase database, string source, IEventPublisher publisher, OutboxSignal signal,
    ILogger<OutboxRelay> logger, TimeProvider? timeProvider = null) : BackgroundService
{
    static readonly TimeSpan Poll = TimeSpan.FromSeconds(2);
    static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(1);
    static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(5);
    readonly TimeProvider time = timeProvider ?? TimeProvider.System;

    long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    sealed class Row
    {
        public long Id { get; init; }
        public string EventId { get; init; } = "";
        public string Topic { get; init; } = "";
        public string Type { get; init; } = "";
        public string Data { get; init; } = "";
        public string? TraceParent { get; init; }
        public long CreatedAt { get; init; }
        public long Attempts { get; init; }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var wake = signal.For(database.Name);
        var losses = publisher.Losses;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (publisher.Losses != losses)
                {
                    losses = publisher.Losses;
                    await ReplayRecentAsync(publisher.ReplayWindow, stoppingToken);
                }
                await PublishPendingAsync(stoppingToken);
                await wake.WaitAsync(Poll, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Log.RelayFailed(logger, database.Name, Poll, e);
                await Task.Delay(Poll, time, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    /// <summary>Publishes everything due now; returns how many rows went out.</summary>
    public async Task<int> PublishPendingAsync(CancellationToken cancellationToken)
    {
        if (database.Dialect.ClaimsRows)
            return await PublishClaimedAsync(cancellationToken);
        var sent = 0;
        while (true)
        {
            List<Row> rows;
            await using (var connection = await database.OpenAsync(cancellationToken))
            {
                rows = (await connection.QueryAsync<Row>(new CommandDefinition(
                    $"""
                    SELECT id, event_id AS EventId, topic, type, data, trace_parent AS TraceParent, created_at AS CreatedAt, attempts
                    FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= @now ORDER BY id {database.Dialect.Page}
                    """,
                    new { now = Now, offset = 0, limit = 100 },
                    cancellationToken: cancellationToken))).ToList();
            }
            if (rows.Count == 0)
                return sent;
            foreach (var row in rows)
            {
                var cloudEvent = new CloudEvent(row.EventId, source, row.Type, row.Topic,
                    DateTimeOffset.FromUnixTimeMilliseconds(row.CreatedAt), row.Data, row.TraceParent);
                try
                {
                    await publisher.PublishAsync(cloudEvent, cancellationToken);
                    await MarkAsync("UPDATE outbox SET sent_at = @now, attempts = attempts + 1 WHERE id = @id",
                        new { id = row.Id, now = Now }, cancellationToken);
                    sent++;
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    var delay = Backoff.Next(row.Attempts, FirstBackoff, MaxBackoff);
                    Log.PublishFailed(logger, database.Name, row.EventId, row.Topic, (int)row.Attempts + 1, delay, e);
                    await MarkAsync(
                        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = @next, last_error = @error WHERE id = @id",
                        new
                        {
                            id = row.Id,
                            next = time.GetUtcNow().Add(delay).ToUnixTimeMilliseconds(),
                            error = e.Message.Length > 1000 ? e.Message[..1000] : e.Message,
                        }, cancellationToken);
                    // Keep the topic's order: stop this batch at the first failure.
                    return sent;
                }
            }
        }
    }

    /// <summary>
    /// PostgreSQL (and SQL Server, by review), where several replicas of a service share its outbox: each batch is claimed
    /// with FOR UPDATE SKIP LOCKED (SQL Server: UPDLOCK, READPAST) inside a transaction that also marks the rows, so two relays never publish the same row at once (a relay
    /// that dies mid-batch leaves its rows unsent: they go again, and subscribers' inboxes drop the duplicates).
    /// Rows a concurrent relay holds are skipped, so a topic's order holds per relay, not across relays.
    /// </summary>
    async Task<int> PublishClaimedAsync(CancellationToken cancellationToken)
    {
        var sent = 0;
        while (true)
        {
            await using var connection = await database.OpenAsync(cancellationToken);
            await using var tx = await database.Dialect.BeginWriteAsync(connection, cancellationToken);
            var rows = (await connection.QueryAsync<Row>(new CommandDefinition(
                $"""
                SELECT id, event_id AS EventId, topic, type, data, trace_parent AS TraceParent, created_at AS CreatedAt, attempts
                FROM outbox {database.Dialect.ClaimHint} WHERE sent_at IS NULL AND next_attempt_at <= @now
                ORDER BY id {database.Dialect.Page} {database.Dialect.SkipLocked}
                """,
                new { now = Now, offset = 0, limit = 100 }, tx, cancellationToken: cancellationToken))).ToList();
            if (rows.Count == 0)
                return sent;
            foreach (var row in rows)
            {
                var cloudEvent = new CloudEvent(row.EventId, source, row.Type, row.Topic,
                    DateTimeOffset.FromUnixTimeMilliseconds(row.CreatedAt), row.Data, row.TraceParent);
                try
                {
                    await publisher.PublishAsync(cloudEvent, cancellationToken);
                    await connection.ExecuteAsync(new CommandDefinition("UPDATE outbox SET sent_at = @now, attempts = attempts + 1 WHERE id = @id",
                        new { id = row.Id, now = Now }, tx, cancellationToken: cancellationToken));
                    sent++;
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    if (e is System.Data.Common.DbException)
                        throw;
                    var delay = Backoff.Next(row.Attempts, FirstBackoff, MaxBackoff);
                    Log.PublishFailed(logger, database.Name, row.EventId, row.Topic, (int)row.Attempts + 1, delay, e);
                    await connection.ExecuteAsync(new CommandDefinition(
                        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = @next, last_error = @error WHERE id = @id",
                        new
                        {
                            id = row.Id,
                            next = time.GetUtcNow().Add(delay).ToUnixTimeMilliseconds(),
                            error = e.Message.Length > 1000 ? e.Message[..1000] : e.Message,
                        }, tx, cancellationToken: cancellationToken));
                    await tx.CommitAsync(cancellationToken);
                    return sent;
                }
            }
            await tx.CommitAsync(cancellationToken);
        }
    }

    /// <summary>Marks what was sent within <paramref name="window"/> unsent again (the event bus lost it); returns how many rows.</summary>
    public async Task<int> ReplayRecentAsync(TimeSpan window, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE outbox SET sent_at = NULL, next_attempt_at = 0 WHERE sent_at >= @since",
            new { since = time.GetUtcNow().Subtract(window).ToUnixTimeMilliseconds() }, cancellationToken: cancellationToken));
    }

    async Task MarkAsync(string sql, object parameters, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(sql, parameters, cancellationToken: cancellationToken));
    }
}
