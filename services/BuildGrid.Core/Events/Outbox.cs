using System.Data.Common;
using System.Diagnostics;
using BuildGrid.Core.Storage;
using Dapper;
using Google.Protobuf;

namespace BuildGrid.Core.Events;

/// <summary>Writes integration events in the caller's transaction; the <see cref="OutboxRelay"/> publishes them.</summary>
public sealed class Outbox(OutboxSignal signal, TimeProvider? timeProvider = null)
{
    readonly TimeProvider time = timeProvider ?? TimeProvider.System;

    const string Insert = """
        INSERT INTO outbox (event_id, topic, type, data, trace_parent, created_at, next_attempt_at)
        VALUES (@eventId, @topic, @type, @data, @traceParent, @now, 0)
        """;

    static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));

    public async Task AddAsync(DbConnection connection, DbTransaction transaction, IMessage message, CancellationToken cancellationToken)
    {
        var descriptor = message.Descriptor;
        await connection.ExecuteAsync(new CommandDefinition(Insert, new
        {
            eventId = Guid.CreateVersion7().ToString(),
            topic = Topics.For(descriptor),
            type = descriptor.FullName,
            data = Formatter.Format(message),
            traceParent = Activity.Current?.Id,
            now = time.GetUtcNow().ToUnixTimeMilliseconds(),
        }, transaction, cancellationToken: cancellationToken));
    }

    /// <summary>Tells the relays that rows were committed (they also poll, so a missed wake only delays).</summary>
    public void Wake(ServiceDatabase database) => signal.Wake(database.Name);
}

/// <summary>Wakes the relay of one database.</summary>
public sealed class OutboxSignal
{
    readonly System.Collections.Concurrent.ConcurrentDictionary<string, SemaphoreSlim> signals = new();

    internal SemaphoreSlim For(string database) => signals.GetOrAdd(database, _ => new SemaphoreSlim(0, 1));

    public void Wake(string database)
    {
        var semaphore = For(database);
        if (semaphore.CurrentCount == 0)
        {
            try { semaphore.Release(); }
            catch (SemaphoreFullException) { }
        }
    }
}
