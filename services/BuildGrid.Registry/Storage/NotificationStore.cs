using System.Data.Common;
using BuildGrid.Core.Events;
using BuildGrid.Core.Storage;
using Dapper;

namespace BuildGrid.Registry.Storage;

/// <summary>
/// All SQL of repository notifications and their deliveries. A delivery row is the durable promise to send: it is written
/// in the transaction that applies the event (with the event's inbox record), and the sender ends it as delivered or
/// abandoned.
/// </summary>
public sealed class NotificationStore([FromKeyedServices(RegistryExtensions.AppId)] ServiceDatabase db, TimeProvider time)
{
    /// <summary>Consecutive failures that disable a notification (Quay's threshold).</summary>
    public const int DisableAfterFailures = 3;

    const string Columns = """
        uuid AS Uuid, repository AS Repository, title AS Title, event AS Event, method AS Method, config AS Config,
        event_config AS EventConfig, number_of_failures AS NumberOfFailures, last_error AS LastError, created_at AS CreatedAt
        """;

    long Now() => time.GetUtcNow().ToUnixTimeMilliseconds();
    static CommandDefinition Cmd(string sql, object? parameters, DbTransaction? tx, CancellationToken ct) => new(sql, parameters, tx, cancellationToken: ct);

    public ServiceDatabase Database => db;

    public async Task<NotificationRow> CreateAsync(string repository, string? title, string @event, string method, string config, string eventConfig,
        CancellationToken cancellationToken)
    {
        db.RequireRoom();
        var row = new NotificationRow
        {
            Uuid = Guid.NewGuid().ToString(), Repository = repository, Title = title, Event = @event, Method = method, Config = config,
            EventConfig = eventConfig, CreatedAt = Now(),
        };
        await using var connection = await db.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(Cmd("""
            INSERT INTO repository_notifications (uuid, repository, title, event, method, config, event_config, number_of_failures, created_at)
            VALUES (@Uuid, @Repository, @Title, @Event, @Method, @Config, @EventConfig, 0, @CreatedAt)
            """, row, null, cancellationToken));
        return row;
    }

    /// <summary>A notification of the repository (a uuid of another repository is not found).</summary>
    public async Task<NotificationRow?> FindAsync(string repository, string uuid, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<NotificationRow>(Cmd(
            $"SELECT {Columns} FROM repository_notifications WHERE uuid = @uuid AND repository = @repository", new { uuid, repository }, null, cancellationToken));
    }

    public async Task<IReadOnlyList<NotificationRow>> ListAsync(string repository, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<NotificationRow>(Cmd(
            $"SELECT {Columns} FROM repository_notifications WHERE repository = @repository ORDER BY created_at, uuid", new { repository }, null, cancellationToken))).ToList();
    }

    public async Task<bool> DeleteAsync(string repository, string uuid, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        if (await connection.ExecuteAsync(Cmd("DELETE FROM repository_notifications WHERE uuid = @uuid AND repository = @repository",
                new { uuid, repository }, tx, cancellationToken)) == 0)
            return false;
        await connection.ExecuteAsync(Cmd("DELETE FROM notification_deliveries WHERE notification_uuid = @uuid", new { uuid }, tx, cancellationToken));
        await tx.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>Sets the failure count to 0 (enabling the notification again); false when unknown.</summary>
    public async Task<bool> ResetAsync(string repository, string uuid, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(Cmd(
            "UPDATE repository_notifications SET number_of_failures = 0, last_error = NULL WHERE uuid = @uuid AND repository = @repository",
            new { uuid, repository }, null, cancellationToken)) == 1;
    }

    /// <summary>Queues one delivery of a notification (a test) outside any event.</summary>
    public async Task QueueAsync(string uuid, string @event, string payload, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(Cmd("""
            INSERT INTO notification_deliveries (notification_uuid, event, payload, created_at, attempts, next_attempt_at)
            VALUES (@uuid, @event, @payload, @now, 0, 0)
            """, new { uuid, @event, payload, now = Now() }, null, cancellationToken));
    }

    /// <summary>
    /// Applies one integration event: records its id in the inbox and queues a delivery for every enabled notification
    /// of the repository on that event, in one transaction. <paramref name="payloadFor"/> builds the body of each
    /// (null skips that notification, as a ref-regex that does not match does). False when the event was applied before.
    /// </summary>
    public async Task<bool> QueueForEventAsync(CloudEvent cloudEvent, string repository, string @event, Func<NotificationRow, string?> payloadFor,
        Func<DbConnection, DbTransaction, Task>? alsoInTransaction, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        if (!await Inbox.TryRecordAsync(connection, tx, cloudEvent, cancellationToken))
            return false;
        if (alsoInTransaction is not null)
            await alsoInTransaction(connection, tx);
        var notifications = await connection.QueryAsync<NotificationRow>(Cmd(
            $"SELECT {Columns} FROM repository_notifications WHERE repository = @repository AND event = @event AND number_of_failures < @limit",
            new { repository, @event, limit = DisableAfterFailures }, tx, cancellationToken));
        var now = Now();
        foreach (var notification in notifications)
        {
            if (payloadFor(notification) is not { } payload)
                continue;
            await connection.ExecuteAsync(Cmd("""
                INSERT INTO notification_deliveries (notification_uuid, event, payload, created_at, attempts, next_attempt_at)
                VALUES (@uuid, @event, @payload, @now, 0, 0)
                """, new { uuid = notification.Uuid, @event, payload, now }, tx, cancellationToken));
        }
        await tx.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>Records the repository of a build run (BuildQueued) in the caller's transaction.</summary>
    public Task RecordBuildRunAsync(DbConnection connection, DbTransaction tx, string runId, string repository, string tag, CancellationToken ct) =>
        connection.ExecuteAsync(Cmd("""
            INSERT INTO notification_build_runs (run_id, repository, tag, created_at)
            SELECT @runId, @repository, @tag, @now WHERE NOT EXISTS (SELECT 1 FROM notification_build_runs WHERE run_id = @runId)
            """, new { runId, repository, tag, now = Now() }, tx, ct));

    public async Task<BuildRunRow?> FindBuildRunAsync(string runId, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<BuildRunRow>(Cmd(
            "SELECT repository AS Repository, tag AS Tag FROM notification_build_runs WHERE run_id = @runId", new { runId }, null, cancellationToken));
    }

    /// <summary>Deliveries due now, oldest first, with their notification.</summary>
    public async Task<IReadOnlyList<PendingDelivery>> DueAsync(int limit, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<PendingDelivery>(Cmd($"""
            SELECT d.id AS Id, d.event AS Event, d.payload AS Payload, d.attempts AS Attempts, n.uuid AS Uuid, n.repository AS Repository,
                n.method AS Method, n.config AS Config
            FROM notification_deliveries d JOIN repository_notifications n ON n.uuid = d.notification_uuid
            WHERE d.delivered_at IS NULL AND d.abandoned_at IS NULL AND d.next_attempt_at <= @now
            ORDER BY d.id {db.Dialect.Page}
            """, new { now = Now(), limit, offset = 0 }, null, cancellationToken))).ToList();
    }

    /// <summary>
    /// Takes a due delivery for one send, so that no other sender sharing the database (another replica's) sends it too:
    /// it is not due again until <paramref name="until"/>, past the send's timeout, so a sender killed mid-send loses
    /// nothing. The notification's failure count is read afresh in the same transaction: when it reached 3 since the
    /// delivery was listed, the delivery is abandoned instead of sent.
    /// </summary>
    public async Task<DeliveryClaim> ClaimAsync(PendingDelivery delivery, DateTimeOffset until, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var now = Now();
        var parameters = new { id = delivery.Id, attempts = delivery.Attempts, uuid = delivery.Uuid, now, until = until.ToUnixTimeMilliseconds() };
        if (await connection.ExecuteAsync(Cmd("""
                UPDATE notification_deliveries SET next_attempt_at = @until
                WHERE id = @id AND attempts = @attempts AND delivered_at IS NULL AND abandoned_at IS NULL AND next_attempt_at <= @now
                """, parameters, tx, cancellationToken)) == 0)
            return DeliveryClaim.Taken;
        var failures = await connection.ExecuteScalarAsync<int>(Cmd("SELECT number_of_failures FROM repository_notifications WHERE uuid = @uuid",
            parameters, tx, cancellationToken));
        if (failures >= DisableAfterFailures)
            await connection.ExecuteAsync(Cmd("UPDATE notification_deliveries SET abandoned_at = @now, last_error = @reason WHERE id = @id",
                new { id = delivery.Id, now, reason = "the notification is disabled after 3 consecutive failures; reset it to enable it" }, tx, cancellationToken));
        await tx.CommitAsync(cancellationToken);
        return failures >= DisableAfterFailures ? DeliveryClaim.Disabled : DeliveryClaim.Claimed;
    }

    /// <summary>Gives a claimed delivery back unsent (the sender is stopping): it is due again at once.</summary>
    public async Task ReleaseAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(Cmd("UPDATE notification_deliveries SET next_attempt_at = 0 WHERE id = @id AND delivered_at IS NULL AND abandoned_at IS NULL",
            new { id }, null, cancellationToken));
    }

    /// <summary>A successful send: the delivery ends and the notification's failure count goes back to 0.</summary>
    public async Task MarkDeliveredAsync(long id, string uuid, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var now = Now();
        await connection.ExecuteAsync(Cmd("UPDATE notification_deliveries SET delivered_at = @now, attempts = attempts + 1, last_error = NULL WHERE id = @id",
            new { id, now }, tx, cancellationToken));
        await connection.ExecuteAsync(Cmd("UPDATE repository_notifications SET number_of_failures = 0, last_error = NULL WHERE uuid = @uuid",
            new { uuid }, tx, cancellationToken));
        await tx.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// A failed send: counts the failure on the notification and either schedules a retry at <paramref name="retryAt"/>
    /// or, after the last attempt or when the notification is now disabled, abandons the delivery. Returns the new count.
    /// </summary>
    public async Task<int> MarkFailedAsync(long id, string uuid, string error, DateTimeOffset? retryAt, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        await connection.ExecuteAsync(Cmd("UPDATE repository_notifications SET number_of_failures = number_of_failures + 1, last_error = @error WHERE uuid = @uuid",
            new { uuid, error }, tx, cancellationToken));
        var failures = await connection.ExecuteScalarAsync<int>(Cmd("SELECT number_of_failures FROM repository_notifications WHERE uuid = @uuid",
            new { uuid }, tx, cancellationToken));
        var giveUp = retryAt is null || failures >= DisableAfterFailures;
        await connection.ExecuteAsync(Cmd(giveUp
                ? "UPDATE notification_deliveries SET attempts = attempts + 1, last_error = @error, abandoned_at = @now WHERE id = @id"
                : "UPDATE notification_deliveries SET attempts = attempts + 1, last_error = @error, next_attempt_at = @next WHERE id = @id",
            new { id, error, now = Now(), next = retryAt?.ToUnixTimeMilliseconds() ?? 0 }, tx, cancellationToken));
        await tx.CommitAsync(cancellationToken);
        return failures;
    }

    public async Task<IReadOnlyList<DeliveryRow>> ListDeliveriesAsync(string uuid, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<DeliveryRow>(Cmd($"""
            SELECT id AS Id, event AS Event, payload AS Payload, attempts AS Attempts, created_at AS CreatedAt, delivered_at AS DeliveredAt,
                abandoned_at AS AbandonedAt, last_error AS LastError
            FROM notification_deliveries WHERE notification_uuid = @uuid ORDER BY id DESC {db.Dialect.Page}
            """, new { uuid, limit, offset = 0 }, null, cancellationToken))).ToList();
    }
}

public sealed class NotificationRow
{
    public string Uuid { get; init; } = "";
    public string Repository { get; init; } = "";
    public string? Title { get; init; }
    public string Event { get; init; } = "";
    public string Method { get; init; } = "";
    public string Config { get; init; } = "{}";
    public string EventConfig { get; init; } = "{}";
    public int NumberOfFailures { get; init; }
    public string? LastError { get; init; }
    public long CreatedAt { get; init; }
}

public sealed class PendingDelivery
{
    public long Id { get; init; }
    public string Event { get; init; } = "";
    public string Payload { get; init; } = "";
    public int Attempts { get; init; }
    public string Uuid { get; init; } = "";
    public string Repository { get; init; } = "";
    public string Method { get; init; } = "";
    public string Config { get; init; } = "{}";
}

/// <summary>What <see cref="NotificationStore.ClaimAsync"/> did with a delivery.</summary>
public enum DeliveryClaim
{
    /// <summary>This sender has it: send it, then mark it delivered or failed.</summary>
    Claimed,
    /// <summary>Another sender has it, or it is no longer due: leave it.</summary>
    Taken,
    /// <summary>Its notification is disabled: it was abandoned unsent.</summary>
    Disabled,
}

public sealed class DeliveryRow
{
    public long Id { get; init; }
    public string Event { get; init; } = "";
    public string Payload { get; init; } = "";
    public int Attempts { get; init; }
    public long CreatedAt { get; init; }
    public long? DeliveredAt { get; init; }
    public long? AbandonedAt { get; init; }
    public string? LastError { get; init; }
}

public sealed class BuildRunRow
{
    public string Repository { get; init; } = "";
    public string Tag { get; init; } = "";
}
