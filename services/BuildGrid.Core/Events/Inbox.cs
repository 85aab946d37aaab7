using System.Data.Common;
using Dapper;

namespace BuildGrid.Core.Events;

/// <summary>
/// The subscriber side of at-least-once delivery: an event is applied in the same transaction that records its id, so
/// a redelivered event finds its id and is skipped — delivered at least once, applied exactly once.
/// </summary>
public static class Inbox
{
    /// <summary>Records the event in the caller's write transaction; false when it was applied before.</summary>
    public static async Task<bool> TryRecordAsync(DbConnection connection, DbTransaction transaction, CloudEvent cloudEvent, CancellationToken cancellationToken)
    {
        var seen = await connection.ExecuteScalarAsync<int>(new CommandDefinition(
            "SELECT COUNT(*) FROM inbox WHERE event_id = @id", new { id = cloudEvent.Id }, transaction, cancellationToken: cancellationToken));
        if (seen > 0)
            return false;
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO inbox (event_id, topic, applied_at) VALUES (@id, @topic, @now)",
            new { id = cloudEvent.Id, topic = cloudEvent.Topic, now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() }, transaction,
            cancellationToken: cancellationToken));
        return true;
    }
}
