using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace BuildGrid.Core.Storage;

public sealed class SqliteDialect : ISqlDialect
{
    public string Name => "sqlite";
    public DbConnection CreateConnection(string connectionString) => new SqliteConnection(connectionString);
    // Pooled SqliteConnections reuse their sqlite3 handle, which keeps its pragmas: set them once per handle, not per open.
    readonly System.Runtime.CompilerServices.ConditionalWeakTable<object, object> initialized = new();

    // WAL keeps every committed transaction across a process kill; NORMAL only risks the last ones on power loss.
    // busy_timeout (the connection string's Default Timeout): a writer that finds the write lock taken waits inside
    // SQLite, which retries after 1, 2, 5, 10 ms ... Without it Microsoft.Data.Sqlite answers SQLITE_BUSY with
    // Thread.Sleep(150) per retry: under 8 concurrent blob pushes one request in ten or so slept 150 ms behind a write
    // that held the lock for a millisecond.
    public async Task InitializeAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var sqlite = (SqliteConnection)connection;
        var handle = sqlite.Handle!;
        if (initialized.TryGetValue(handle, out _))
            return;
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; " +
                $"PRAGMA busy_timeout = {sqlite.DefaultTimeout * 1000};";
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        initialized.AddOrUpdate(handle, handle);
    }


    public string Page => "LIMIT @limit OFFSET @offset";
    public string LockSchemaVersion => "SELECT COUNT(*) FROM schema_version";
    // SQLITE_CONSTRAINT_UNIQUE (2067) and SQLITE_CONSTRAINT_PRIMARYKEY (1555).
    public bool IsUniqueViolation(DbException exception) =>
        exception is SqliteException { SqliteErrorCode: 19, SqliteExtendedErrorCode: 2067 or 1555 };
    // SQLITE_CONSTRAINT_FOREIGNKEY (787).
    public bool IsForeignKeyViolation(DbException exception) =>
        exception is SqliteException { SqliteErrorCode: 19, SqliteExtendedErrorCode: 787 };

    // BEGIN IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout instead of deadlocking.
    public Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    public static string ConnectionString(string file) => new SqliteConnectionStringBuilder
    {
        DataSource = file,
        Mode = SqliteOpenMode.ReadWriteCreate,
        Cache = SqliteCacheMode.Private,
        Pooling = true,
        DefaultTimeout = 30,
    }.ToString();
}
