using System.Data;
using System.Data.Common;
using Microsoft.Data.SqlClient;

namespace BuildGrid.Core.Storage;

public sealed class SqlServerDialect : ISqlDialect
{
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
