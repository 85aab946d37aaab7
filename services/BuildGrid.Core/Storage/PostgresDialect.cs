using System.Data;
using System.Data.Common;
using Dapper;
using Npgsql;

namespace BuildGrid.Core.Storage;

/// <summary>
/// PostgreSQL through Npgsql (DATABASES.md beside this file). Each service keeps to its own schema, named after the
/// service: <see cref="ConnectionString"/> puts it first on the search_path, so the stores' unqualified table names
/// resolve there; <c>public</c> follows it only for the citext extension's type and operators.
/// </summary>
public sealed class PostgresDialect : ISqlDialect
{
    public string Name => "postgres";
    public DbConnection CreateConnection(string connectionString) => new NpgsqlConnection(connectionString);
    public Task InitializeAsync(DbConnection connection, CancellationToken cancellationToken) => Task.CompletedTask;
    public string Page => "LIMIT @limit OFFSET @offset";
    // Migrations hold the database-wide advisory lock (Migrator); this one keeps two transactions of the same track apart.
    public string LockSchemaVersion => "SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock(hashtextextended('buildgrid.schema_version.' || current_schema(), 0))) l";
    // SQLite's LIKE folds ASCII case; ILIKE keeps that meaning for the name filters.
    public string LikeOperator => "ILIKE";
    public string SkipLocked => "FOR UPDATE SKIP LOCKED";
    // 23505 unique_violation; 23503 foreign_key_violation.
    public bool IsUniqueViolation(DbException exception) => exception is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation };
    public bool IsForeignKeyViolation(DbException exception) => exception is PostgresException { SqlState: PostgresErrorCodes.ForeignKeyViolation };

    // READ COMMITTED, PostgreSQL's default: claims are conditional UPDATEs (re-checked on the newest row version after a
    // lock wait) and SKIP LOCKED selects; what needs more (a blob's digest) takes LockAsync.
    public async Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);

    public Task LockAsync(DbConnection connection, DbTransaction transaction, string key, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition("SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock(hashtextextended(@key, 0))) l",
            new { key }, transaction, cancellationToken: cancellationToken));

    /// <summary>
    /// BUILDGRID_SQL with the service's schema on the search_path, a bounded pool and short timeouts, so that an outage
    /// of the server fails requests within seconds instead of queueing them.
    /// </summary>
    public static string ConnectionString(string configured, string schema)
    {
        var builder = new NpgsqlConnectionStringBuilder(configured) { SearchPath = $"{schema}, public" };
        if (!configured.Contains("Timeout", StringComparison.OrdinalIgnoreCase))
            builder.Timeout = 5;
        if (!configured.Contains("Maximum Pool Size", StringComparison.OrdinalIgnoreCase) && !configured.Contains("MaxPoolSize", StringComparison.OrdinalIgnoreCase))
            builder.MaxPoolSize = 50;
        builder.ApplicationName ??= $"buildgrid-{schema}";
        return builder.ToString();
    }
}
