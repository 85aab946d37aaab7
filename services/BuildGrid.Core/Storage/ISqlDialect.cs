using System.Data.Common;

namespace BuildGrid.Core.Storage;

/// <summary>The few places SQLite, PostgreSQL and SQL Server differ. Everything else in the stores is portable SQL.</summary>
public interface ISqlDialect
{
    /// <summary>"sqlite", "postgres" or "sqlserver": also the folder of the provider's migrations.</summary>
    string Name { get; }
    DbConnection CreateConnection(string connectionString);
    /// <summary>Per-connection settings (SQLite pragmas), applied after an open when the physical connection is new.</summary>
    Task InitializeAsync(DbConnection connection, CancellationToken cancellationToken);
    /// <summary>Appended to an ORDER BY: rows @offset .. @offset + @limit.</summary>
    string Page { get; }
    /// <summary>Locks the schema_version table for the rest of the transaction, so that two processes never migrate at once.</summary>
    string LockSchemaVersion { get; }
    bool IsUniqueViolation(DbException exception);
    /// <summary>A row refers to a row that is gone (or a delete would orphan one).</summary>
    bool IsForeignKeyViolation(DbException exception);
    Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken);
    /// <summary>The LIKE of a name filter: case-insensitive for ASCII, as SQLite's LIKE is (ILIKE on PostgreSQL).</summary>
    string LikeOperator => "LIKE";
    /// <summary>Appended to a SELECT that claims rows inside a write transaction: rows another replica holds are skipped.</summary>
    string SkipLocked => "";
    /// <summary>The same claim where the provider spells it as a table hint, after the table's name (SQL Server).</summary>
    string ClaimHint => "";
    /// <summary>Whether a SELECT can claim rows (<see cref="SkipLocked"/> or <see cref="ClaimHint"/>); SQLite serializes writers instead.</summary>
    bool ClaimsRows => SkipLocked.Length > 0 || ClaimHint.Length > 0;
    /// <summary>
    /// Serializes the write transactions that name <paramref name="key"/> until they end (a blob's digest: its row may
    /// not exist yet, so there is no row to lock). SQLite's BEGIN IMMEDIATE already serializes every writer.
    /// </summary>
    Task LockAsync(DbConnection connection, DbTransaction transaction, string key, CancellationToken cancellationToken) => Task.CompletedTask;
}
