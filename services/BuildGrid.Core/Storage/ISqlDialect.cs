using System.Data.Common;

namespace BuildGrid.Core.Storage;

/// <summary>The few places SQLite and SQL Server differ. Everything else in the stores is portable SQL.</summary>
public interface ISqlDialect
{
    /// <summary>"sqlite" or "sqlserver": also the folder of the provider's migrations.</summary>
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
}
