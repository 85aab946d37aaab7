using System.Data.Common;
using System.Reflection;
using BuildGrid.Core.Hosting;
using Dapper;
using Microsoft.Extensions.Logging;

namespace BuildGrid.Core.Storage;

/// <summary>
/// One service's database: SQLite file <c>{data}/{name}.db</c> or a SQL Server database (or schema) named by
/// BUILDGRID_SQL. The first open applies the embedded migrations (Core's track, then the service's).
/// </summary>
public sealed class ServiceDatabase
{
    readonly string connectionString;
    readonly Lazy<Task> migrated;

    public ServiceDatabase(string name, Assembly migrations, BuildGridSettings settings, ILoggerFactory loggers)
    {
        Name = name;
        Dialect = settings.SqlProvider == "sqlserver" ? new SqlServerDialect() : new SqliteDialect();
        connectionString = settings.SqlProvider == "sqlserver"
            ? settings.Sql!
            : SqliteDialect.ConnectionString(Path.Combine(settings.DataDir, $"{name}.db"));
        var migrator = new Migrator(this, [typeof(ServiceDatabase).Assembly, migrations], loggers.CreateLogger<Migrator>());
        migrated = new Lazy<Task>(() => migrator.MigrateAsync(CancellationToken.None), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public string Name { get; }
    public ISqlDialect Dialect { get; }

    /// <summary>Applies pending migrations (once per process); start-up calls this to fail fast.</summary>
    public Task EnsureMigratedAsync() => migrated.Value;

    public async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var task = migrated.Value;
        if (!task.IsCompletedSuccessfully)
            await task.WaitAsync(cancellationToken);
        return await OpenRawAsync(cancellationToken);
    }

    internal async Task<DbConnection> OpenRawAsync(CancellationToken cancellationToken)
    {
        var connection = Dialect.CreateConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            await Dialect.InitializeAsync(connection, cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }
}
