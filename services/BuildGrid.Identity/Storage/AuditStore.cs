using System.Data.Common;
using BuildGrid.Core.Events;
using BuildGrid.Core.Storage;
using BuildGrid.Events.V1;
using BuildGrid.Identity.V1;
using Dapper;
using Google.Protobuf.WellKnownTypes;

namespace BuildGrid.Identity.Storage;

/// <summary>The audit log: every service's <see cref="AuditRecorded"/> events, stored once by their id.</summary>
public sealed class AuditStore([FromKeyedServices(IdentityExtensions.AppId)] ServiceDatabase db, TimeProvider time)
{
    const string Columns = """
        seq AS Seq, id AS Id, time AS Time, principal AS Principal, principal_kind AS PrincipalKind, service AS Service, action AS Action,
        namespace AS Namespace, resource AS Resource, remote_ip AS RemoteIp, request_id AS RequestId
        """;

    // Stored once: an entry seen before (a redelivery, or Identity's own entry coming back from the bus) is skipped.
    const string Insert = """
        INSERT INTO audit_entries (id, time, principal, principal_kind, service, action, namespace, resource, remote_ip, request_id)
        SELECT @Id, @Time, @Principal, @PrincipalKind, @Service, @Action, @Namespace, @Resource, @RemoteIp, @RequestId
        WHERE NOT EXISTS (SELECT 1 FROM audit_entries WHERE id = @Id)
        """;

    /// <summary>Stores an entry in the caller's transaction (Identity's own writes).</summary>
    public async Task InsertAsync(DbConnection connection, DbTransaction transaction, AuditRecorded entry, CancellationToken cancellationToken) =>
        await connection.ExecuteAsync(new CommandDefinition(Insert, AuditRow.From(entry, time.GetUtcNow()), transaction, cancellationToken: cancellationToken));

    /// <summary>Stores a delivered event once (inbox), whoever published it.</summary>
    public async Task RecordAsync(CloudEvent cloudEvent, AuditRecorded entry, CancellationToken cancellationToken)
    {
        if (entry.Id.Length == 0)
            entry.Id = cloudEvent.Id;
        if (entry.Time is null)
            entry.Time = Timestamp.FromDateTimeOffset(cloudEvent.Time);
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        if (await Inbox.TryRecordAsync(connection, tx, cloudEvent, cancellationToken))
            await InsertAsync(connection, tx, entry, cancellationToken);
        await tx.CommitAsync(cancellationToken);
    }

    /// <summary>Entries newest first, after the keyset position <paramref name="before"/> (time, seq) when given.</summary>
    public async Task<IReadOnlyList<AuditRow>> ListAsync(string? @namespace, string? principal, long? from, long? to, (long Time, long Seq)? before,
        int limit, CancellationToken cancellationToken)
    {
        var filters = new List<string>();
        if (@namespace is not null) filters.Add("namespace = @namespace");
        if (principal is not null) filters.Add("principal = @principal");
        if (from is not null) filters.Add("time >= @from");
        if (to is not null) filters.Add("time < @to");
        if (before is not null) filters.Add("(time < @beforeTime OR (time = @beforeTime AND seq < @beforeSeq))");
        var where = filters.Count == 0 ? "" : "WHERE " + string.Join(" AND ", filters);
        await using var connection = await db.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<AuditRow>(new CommandDefinition(
            $"SELECT {Columns} FROM audit_entries {where} ORDER BY time DESC, seq DESC {db.Dialect.Page}",
            new { @namespace, principal, from, to, beforeTime = before?.Time ?? 0, beforeSeq = before?.Seq ?? 0, offset = 0, limit },
            cancellationToken: cancellationToken))).ToList();
    }
}

public sealed class AuditRow
{
    public long Seq { get; set; }
    public string Id { get; set; } = "";
    public long Time { get; set; }
    public string Principal { get; set; } = "";
    public string PrincipalKind { get; set; } = "";
    public string Service { get; set; } = "";
    public string Action { get; set; } = "";
    public string Namespace { get; set; } = "";
    public string Resource { get; set; } = "";
    public string RemoteIp { get; set; } = "";
    public string RequestId { get; set; } = "";

    /// <param name="now">The time of an entry recorded without one.</param>
    public static AuditRow From(AuditRecorded e, DateTimeOffset now) => new()
    {
        Id = e.Id, Time = (e.Time ?? Timestamp.FromDateTimeOffset(now)).ToDateTimeOffset().ToUnixTimeMilliseconds(),
        Principal = Cap(e.Principal, 200), PrincipalKind = Cap(e.PrincipalKind, 16), Service = Cap(e.Service, 32), Action = Cap(e.Action, 200),
        Namespace = Cap(e.Namespace, 128), Resource = Cap(e.Resource, 400), RemoteIp = Cap(e.RemoteIp, 64), RequestId = Cap(e.RequestId, 128),
    };

    public AuditEntry ToProto() => new()
    {
        Id = Id, Time = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(Time)), Principal = Principal,
        PrincipalKind = PrincipalKind, Service = Service, Action = Action, Namespace = Namespace, Resource = Resource, RemoteIp = RemoteIp,
        RequestId = RequestId,
    };

    static string Cap(string value, int max) => value.Length <= max ? value : value[..max];
}
