using System.Data;
using System.Data.Common;
using Dapper;
using Microsoft.Data.SqlClient;

namespace BuildGrid.Core.Storage;

/// <summary>SQL Server: never executed on the machines BuildGrid is tested on (DATABASES.md); kept aligned with PostgreSQL by review.</summary>
public sealed class SqlServerDialect : ISqlDialect
{
    // UPDLOCK, READPAST: SQL Server's spelling of PostgreSQL's FOR UPDATE SKIP LOCKED (a table hint, after FROM name);
    // ROWLOCK keeps the claim to the rows read. Reviewed against the PostgreSQL relay, never executed here.
    public string SkipLocked => "";
    public string ClaimHint => "WITH (UPDLOCK, READPAST, ROWLOCK)";
    public Task LockAsync(DbConnection connection, DbTransaction transaction, string key, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(
            "EXEC sp_getapplock @Resource = @key, @LockMode = 'Exclusive', @LockOwner = 'Transaction', @LockTimeout = 60000",
            new { key }, transaction, cancellationToken: cancellationToken));
    public string Name => "sqlserver";
    public DbConnection CreateConnection(string connectionString) => new SqlConnection(connectionString);
    public Task InitializeAsync(DbConnection connection, CancellationToken cancellationToken) => Task.CompletedTask;
    public string Page => "OFFSET @offset ROWS FETCH NEXT @limit ROWS ONLY";
    public string LockSchemaVersion => "SELECT COUNT(*) FROM schema_version WITH (TABLOCKX, HOLDLOCK)";
    // 2627: unique constraint; 2601: unique index.
    public bool IsUniqueViolation(DbException exception) => exception is SqlException { Number: 2627 or 2601 };
    // 547: a FOREIGN KEY (or CHECK) constraint conflict.
    public bool IsForeignKeyViolation(DbException exception) => exception is SqlException { Number: 547 };

    public async Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
}
