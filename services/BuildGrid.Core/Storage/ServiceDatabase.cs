using System.Data.Common;
using System.Reflection;
using BuildGrid.Core.Hosting;
using Dapper;
using Microsoft.Extensions.Logging;

namespace BuildGrid.Core.Storage;

/// <summary>
/// One service's database: SQLite file <c>{data}/{name}.db</c>, the schema <c>{name}</c> of the PostgreSQL database
/// BUILDGRID_SQL names, or a SQL Server database (or schema) named by BUILDGRID_SQL. The first open applies the embedded
/// migrations (Core's track, then the service's). See DATABASES.md beside this file.
/// </summary>
public sealed class ServiceDatabase
{
    readonly string connectionString;
    readonly Lazy<Task> migrated;

    public ServiceDatabase(string name, Assembly migrations, BuildGridSettings settings, DiskSpace disk, TimeProvider time, ILoggerFactory loggers)
    {
        Name = name;
        Time = time;
        Disk = disk;
        (Dialect, connectionString) = settings.SqlProvider switch
        {
            "sqlserver" => ((ISqlDialect)new SqlServerDialect(), settings.Sql!),
            "postgres" => (new PostgresDialect(), PostgresDialect.ConnectionString(settings.Sql!, name)),
            _ => (new SqliteDialect(), SqliteDialect.ConnectionString(Path.Combine(settings.DataDir, $"{name}.db"))),
        };
        var migrator = new Migrator(this, [typeof(ServiceDatabase).Assembly, migrations], loggers.CreateLogger<Migrator>());
        migrated = new Lazy<Task>(() => migrator.MigrateAsync(CancellationToken.None), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public string Name { get; }
    /// <summary>The clock of what the database records about itself (migrations applied, keys stored).</summary>
    public TimeProvider Time { get; }
    public ISqlDialect Dialect { get; }
    /// <summary>The data directory's disk (one per process): see <see cref="RequireRoom"/> and <see cref="DeletingAsync{T}"/>.</summary>
    public DiskSpace Disk { get; }

    /// <summary>
    /// Refuses a create with INSUFFICIENT_STORAGE before it writes when the data directory's disk is below its free-space
    /// reserve (BUILDGRID_MIN_FREE_MB). SQLite only: the other providers' databases are not on this disk.
    /// </summary>
    public void RequireRoom()
    {
        if (Dialect is SqliteDialect)
            Disk.RequireRoom();
    }

    /// <summary>Runs a delete so that it works on a full disk (see <see cref="DiskSpace.DeletingAsync{T}"/>).</summary>
    public Task<T> DeletingAsync<T>(Func<Task<T>> delete) => Disk.DeletingAsync(delete);

    /// <inheritdoc cref="DeletingAsync{T}"/>
    public Task DeletingAsync(Func<Task> delete) => Disk.DeletingAsync(delete);

    /// <summary>Applies pending migrations (once per process); start-up calls this to fail fast.</summary>
    public Task EnsureMigratedAsync() => migrated.Value;

    public async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var task = migrated.Value;
        if (!task.IsCompletedSuccessfully)
            await task.WaitAsync(cancellationToken);
        return await OpenRawAsync(cancellationToken);
    }

    /// <summary>
    /// Opens a connection. Opening is always safe to retry: a transient failure (a server restarting, a dropped socket)
    /// is retried twice within about a second, then surfaces (as Unavailable, see ErrorSizeInterceptor) instead of
    /// queueing the request for the length of an outage.
    /// </summary>
    internal async Task<DbConnection> OpenRawAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var connection = Dialect.CreateConnection(connectionString);
            try
            {
                await connection.OpenAsync(cancellationToken);
                await Dialect.InitializeAsync(connection, cancellationToken);
                return connection;
            }
            catch (DbException e) when (e.IsTransient && attempt < 3 && !cancellationToken.IsCancellationRequested)
            {
                await connection.DisposeAsync();
                await Task.Delay(attempt * 300, cancellationToken);
            }
            catch
            {
                await connection.DisposeAsync();
                throw;
            }
        }
    }
}
