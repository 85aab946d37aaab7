using BuildGrid.Core.Hosting;
using System.Reflection;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.Extensions.Logging;

namespace BuildGrid.Core.Storage;

/// <summary>
/// Applies numbered embedded <c>Storage/Migrations/{provider}/NNNN_name.sql</c> files, one transaction each, and
/// records them in <c>schema_version</c> per track (the assembly's name). Refuses to run against a database that is
/// newer than the code.
/// </summary>
internal sealed partial class Migrator(ServiceDatabase database, IReadOnlyList<Assembly> tracks, ILogger<Migrator> logger)
{
    const string CreateVersionTable = """
        CREATE TABLE IF NOT EXISTS schema_version (
            track      VARCHAR(100) NOT NULL,
            version    INT          NOT NULL,
            name       VARCHAR(200) NOT NULL,
            applied_at BIGINT       NOT NULL,
            PRIMARY KEY (track, version))
        """;
    const string CreateVersionTableSqlServer = """
        IF OBJECT_ID('schema_version') IS NULL
        CREATE TABLE schema_version (
            track      VARCHAR(100) NOT NULL,
            version    INT          NOT NULL,
            name       VARCHAR(200) NOT NULL,
            applied_at BIGINT       NOT NULL,
            PRIMARY KEY (track, version))
        """;

    [GeneratedRegex(@"\.Storage\.Migrations\.(?<provider>[a-z]+)\.(?<version>\d{4})_(?<name>[A-Za-z0-9_]+)\.sql$")]
    private static partial Regex ResourceName();

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        var dialect = database.Dialect;
        if (dialect.Name == "sqlite")
        {
            // WAL is a property of the file: set it once, outside any transaction.
            await using var setup = await database.OpenRawAsync(cancellationToken);
            await setup.ExecuteAsync("PRAGMA journal_mode = WAL;");
        }

        foreach (var assembly in tracks)
        {
            var track = assembly.GetName().Name!;
            var scripts = assembly.GetManifestResourceNames()
                .Select(resource => (resource, match: ResourceName().Match(resource)))
                .Where(r => r.match.Success && r.match.Groups["provider"].Value == dialect.Name)
                .Select(r => (r.resource, version: int.Parse(r.match.Groups["version"].Value), name: r.match.Groups["name"].Value))
                .OrderBy(s => s.version)
                .ToList();
            if (scripts.Count == 0)
                continue;
            if (scripts.Select(s => s.version).Distinct().Count() != scripts.Count || scripts[0].version != 1
                || scripts[^1].version != scripts.Count)
                throw new InvalidOperationException($"Migrations of {track}/{dialect.Name} must be numbered 0001, 0002, ... without gaps.");

            await using var connection = await database.OpenRawAsync(cancellationToken);
            if (dialect.Name == "postgres")
                await PreparePostgresAsync(connection, cancellationToken);
            await connection.ExecuteAsync(dialect.Name == "sqlserver" ? CreateVersionTableSqlServer : CreateVersionTable);
            foreach (var (resource, version, name) in scripts)
            {
                await using var tx = await dialect.BeginWriteAsync(connection, cancellationToken);
                await connection.ExecuteScalarAsync<long>(dialect.LockSchemaVersion, transaction: tx);
                var current = await connection.ExecuteScalarAsync<int?>(
                    "SELECT MAX(version) FROM schema_version WHERE track = @track", new { track }, tx) ?? 0;
                if (current > scripts.Count)
                    throw new StartupException(
                        $"Database {database.Name} is at {track} migration {current}, newer than this code ({scripts.Count}). Upgrade BuildGrid.");
                if (current >= version)
                {
                    await tx.RollbackAsync(cancellationToken);
                    continue;
                }
                await using (var stream = assembly.GetManifestResourceStream(resource)!)
                using (var reader = new StreamReader(stream))
                    await connection.ExecuteAsync(await reader.ReadToEndAsync(cancellationToken), transaction: tx);
                await connection.ExecuteAsync(
                    "INSERT INTO schema_version (track, version, name, applied_at) VALUES (@track, @version, @name, @now)",
                    new { track, version, name, now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() }, tx);
                await tx.CommitAsync(cancellationToken);
                Log.MigrationApplied(logger, database.Name, track, version, name);
            }
            if (dialect.Name == "postgres")
                await connection.ExecuteAsync("SELECT pg_advisory_unlock_all()");
        }
    }

    /// <summary>
    /// PostgreSQL: takes the database-wide migration lock (a session advisory lock, released at the end of the track or
    /// when the connection dies) so that services and replicas starting together never race on CREATE SCHEMA or
    /// CREATE EXTENSION, then creates the service's schema (first on the connection's search_path) and citext.
    /// </summary>
    static async Task PreparePostgresAsync(System.Data.Common.DbConnection connection, CancellationToken cancellationToken)
    {
        await connection.ExecuteAsync(new CommandDefinition("SELECT COUNT(*) FROM (SELECT pg_advisory_lock(hashtextextended('buildgrid.migrations', 0))) l",
            cancellationToken: cancellationToken));
        var schema = await connection.ExecuteScalarAsync<string>("SELECT split_part(current_setting('search_path'), ',', 1)");
        await connection.ExecuteAsync($"CREATE SCHEMA IF NOT EXISTS {schema!.Trim()}");
        await connection.ExecuteAsync("CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public");
        // Npgsql loads a data source's types on its first connection, which may predate citext (another service creates
        // it): without a reload a citext column reads as an unknown type ('-.-').
        await ((Npgsql.NpgsqlConnection)connection).ReloadTypesAsync(cancellationToken);
    }
}
