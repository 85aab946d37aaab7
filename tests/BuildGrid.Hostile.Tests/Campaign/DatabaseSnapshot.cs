using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using BuildGrid.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace BuildGrid.Hostile.Tests.Campaign;

/// <summary>
/// The stored rows of every service database of a host's data directory, as a multiset of row hashes per table: two
/// snapshots are equal when no row was added, removed or changed (row order does not matter). A database is a SQLite
/// file of the data directory (read-only connections; WAL: readers never block the host's writers), or with
/// BUILDGRID_TEST_SQL=postgres a schema of the directory's PostgreSQL database (<see cref="PostgresServer.SettingsFor"/>;
/// READ COMMITTED reads never block writers either). Tables are named <c>service:table</c> ("identity:users").
/// A few hundred rows hash in about a millisecond.
/// </summary>
public sealed class DatabaseSnapshot
{
    /// <summary>
    /// Columns that are pure bookkeeping of background work and move without any request: the outbox relay marks each
    /// event sent (and counts its attempts) after the request that wrote it has been answered. The event rows themselves
    /// (id, topic, data) are compared, so an event written by a rejected request is still caught. Likewise the Builds
    /// reaper re-pushes queued runs that Redis may have lost and restamps their <c>enqueued_at</c> (the campaign host runs
    /// no workers, so accepted runs stay queued); every other column of a run is compared.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string[]> Excluded = new Dictionary<string, string[]>
    {
        ["outbox"] = ["sent_at", "attempts", "next_attempt_at", "last_error"],
        ["runs"] = ["enqueued_at"],
    };

    /// <summary>
    /// The audit trail, which Identity receives from every service's outbox through the event bus's polling subscriber:
    /// its rows (and Identity's inbox and outbox bookkeeping of them) arrive after the writing service's outbox is drained,
    /// at a moment no snapshot can pin down, so they would be blamed on whichever request comes next. Audit records are
    /// written for accepted writes only (AuditInterceptor); Identity's own rows (users, tokens, robots, roles) are compared.
    /// </summary>
    public static readonly IReadOnlySet<string> ExcludedTables = new HashSet<string>(StringComparer.Ordinal)
    {
        "identity:audit_entries", "identity:inbox", "identity:outbox",
    };

    readonly Dictionary<string, ulong[]> tables;

    DatabaseSnapshot(Dictionary<string, ulong[]> tables) => this.tables = tables;

    public int Rows => tables.Values.Sum(t => t.Length);

    public static async Task<DatabaseSnapshot> TakeAsync(string dataDir, CancellationToken ct)
    {
        var tables = new Dictionary<string, ulong[]>(StringComparer.Ordinal);
        await ForEachTableAsync(dataDir, async (conn, database, table, qualified) =>
        {
            if (!ExcludedTables.Contains($"{database}:{table}"))
                tables[$"{database}:{table}"] = await HashRowsAsync(conn, table, qualified, ct);
        }, ct);
        return new DatabaseSnapshot(tables);
    }

    /// <summary>Whether every database's outbox has sent every event (events of accepted requests apply asynchronously).</summary>
    public static async Task<bool> OutboxesDrainedAsync(string dataDir, CancellationToken ct)
    {
        var drained = true;
        await ForEachTableAsync(dataDir, async (conn, _, table, qualified) =>
        {
            if (table != "outbox" || !drained)
                return;
            await using var command = conn.CreateCommand();
            command.CommandText = $"SELECT count(*) FROM {qualified} WHERE sent_at IS NULL";
            if (Convert.ToInt64(await command.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture) > 0)
                drained = false;
        }, ct);
        return drained;
    }

    /// <summary>Visits every table of every database of <paramref name="dataDir"/>: the connection, the database (service), the table and its quoted name.</summary>
    static async Task ForEachTableAsync(string dataDir, Func<DbConnection, string, string, string, Task> visit, CancellationToken ct)
    {
        if (PostgresServer.Selected)
        {
            await using var conn = new NpgsqlConnection((await PostgresServer.SettingsFor(dataDir))["BUILDGRID_SQL"]);
            await conn.OpenAsync(ct);
            var tables = new List<(string Schema, string Table)>();
            await using (var list = new NpgsqlCommand("""
                SELECT table_schema, table_name FROM information_schema.tables
                WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema', 'public')
                ORDER BY table_schema, table_name
                """, conn))
            await using (var reader = await list.ExecuteReaderAsync(ct))
                while (await reader.ReadAsync(ct))
                    tables.Add((reader.GetString(0), reader.GetString(1)));
            foreach (var (schema, table) in tables)
                await visit(conn, schema, table, $"{Quote(schema)}.{Quote(table)}");
            return;
        }
        foreach (var file in Directory.EnumerateFiles(dataDir, "*.db", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            await using var conn = Open(file);
            await conn.OpenAsync(ct);
            var names = new List<string>();
            await using (var list = conn.CreateCommand())
            {
                list.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name";
                await using var reader = await list.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                    names.Add(reader.GetString(0));
            }
            foreach (var table in names)
                await visit(conn, Path.GetFileNameWithoutExtension(file), table, Quote(table));
        }
    }

    static string Quote(string name) => $"\"{name.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";

    static SqliteConnection Open(string file) =>
        new(new SqliteConnectionStringBuilder { DataSource = file, Mode = SqliteOpenMode.ReadOnly, Pooling = true }.ToString());

    static async Task<ulong[]> HashRowsAsync(DbConnection conn, string table, string qualified, CancellationToken ct)
    {
        await using var command = conn.CreateCommand();
        command.CommandText = $"SELECT * FROM {qualified}";
        await using var reader = await command.ExecuteReaderAsync(ct);
        var excluded = Excluded.GetValueOrDefault(table) ?? [];
        var included = Enumerable.Range(0, reader.FieldCount).Where(i => !excluded.Contains(reader.GetName(i))).ToArray();
        var hashes = new List<ulong>();
        var buffer = new MemoryStream();
        while (await reader.ReadAsync(ct))
        {
            buffer.SetLength(0);
            foreach (var i in included)
            {
                var value = reader.GetValue(i);
                var bytes = value switch
                {
                    DBNull => [0xFF],
                    byte[] blob => blob,
                    _ => Encoding.UTF8.GetBytes(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? ""),
                };
                buffer.Write(BitConverter.GetBytes(bytes.Length));
                buffer.Write(bytes);
            }
            hashes.Add(BitConverter.ToUInt64(SHA256.HashData(buffer.GetBuffer().AsSpan(0, (int)buffer.Length))));
        }
        hashes.Sort();
        return [.. hashes];
    }

    /// <summary>The tables whose rows differ, each with how many rows appeared and disappeared (a changed row is both).</summary>
    public IReadOnlyList<string> Diff(DatabaseSnapshot other)
    {
        var differences = new List<string>();
        foreach (var name in tables.Keys.Union(other.tables.Keys).Order(StringComparer.Ordinal))
        {
            var before = tables.GetValueOrDefault(name) ?? [];
            var after = other.tables.GetValueOrDefault(name) ?? [];
            if (before.AsSpan().SequenceEqual(after))
                continue;
            var added = after.Except(before).Count();
            var removed = before.Except(after).Count();
            differences.Add($"{name} (+{added} -{removed} rows)");
        }
        return differences;
    }
}
