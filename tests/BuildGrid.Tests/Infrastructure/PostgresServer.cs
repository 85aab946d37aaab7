using System.Globalization;
using System.Collections.Concurrent;
using System.Diagnostics;
using Npgsql;

namespace BuildGrid.Tests.Infrastructure;

/// <summary>
/// A private PostgreSQL 15 cluster from Debian's packages (<c>/usr/lib/postgresql/15/bin</c>): initdb into a temp
/// directory, the server on a free loopback port with its socket in that directory — no system service. As root it
/// runs as the <c>postgres</c> user (initdb refuses root). The server is its own process group (setsid), so that
/// <see cref="KillAsync"/> is a kill -9 of the postmaster and every backend at once, as a crashed machine would be.
/// <para>
/// <c>BUILDGRID_TEST_SQL=postgres</c> makes the standalone hosts and service processes of the tests run on
/// <see cref="Shared"/>, one fresh database per data directory (<see cref="SettingsFor"/>), so that processes sharing a
/// data directory (replicas) share a database as they would share PostgreSQL in production.
/// </para>
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    const string Bin = "/usr/lib/postgresql/15/bin";
    static readonly bool AsRoot = Environment.UserName == "root";
    static readonly Lazy<Task<PostgresServer>> shared = new(async () =>
    {
        var server = await StartAsync();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return server;
    });
    static readonly ConcurrentDictionary<string, Lazy<Task<string>>> databases = new();

    readonly string dir = TestDirectories.Create("postgres");
    Process? process;

    PostgresServer() { }

    public int Port { get; } = FreePort();

    // Its own (not ServiceProcess's): the hostile test project links this file without ServiceProcess.
    static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
    string DataDirectory => Path.Combine(dir, "data");

    /// <summary>Whether this test run puts BuildGrid on PostgreSQL (<c>BUILDGRID_TEST_SQL=postgres</c>).</summary>
    public static bool Selected => string.Equals(Environment.GetEnvironmentVariable("BUILDGRID_TEST_SQL"), "postgres", StringComparison.OrdinalIgnoreCase);

    /// <summary>The cluster all fixtures of this test process share (started on first use).</summary>
    public static Task<PostgresServer> Shared => shared.Value;

    /// <summary>
    /// The settings that put the host or processes using <paramref name="dataDir"/> on a database of their own in the
    /// shared cluster (created on first call for that directory); none unless <see cref="Selected"/>.
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, string>> SettingsFor(string dataDir)
    {
        if (!Selected)
            return new Dictionary<string, string>();
        var server = await Shared;
        var database = await databases.GetOrAdd(Path.GetFullPath(dataDir), _ => new Lazy<Task<string>>(server.CreateDatabaseAsync)).Value;
        return server.Settings(database);
    }

    /// <summary>
    /// A connection to the tables of <paramref name="service"/> ("registry", "identity", ...) of the hosts using
    /// <paramref name="dataDir"/>: its SQLite file, or its schema on PostgreSQL. Parameters are written @name (both take it).
    /// </summary>
    public static async Task<System.Data.Common.DbConnection> OpenServiceDatabaseAsync(string dataDir, string service)
    {
        System.Data.Common.DbConnection connection = Selected
            ? new NpgsqlConnection(new NpgsqlConnectionStringBuilder((await SettingsFor(dataDir))["BUILDGRID_SQL"]) { SearchPath = service + ", public", Pooling = false }.ToString())
            : new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDir, service + ".db")};Pooling=false");
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>
    /// Whether the hosts using <paramref name="dataDir"/> hold tables of <paramref name="service"/>: its SQLite file
    /// exists, or its schema exists on PostgreSQL.
    /// </summary>
    public static async Task<bool> HoldsServiceDatabaseAsync(string dataDir, string service)
    {
        if (!Selected)
            return File.Exists(Path.Combine(dataDir, service + ".db"));
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder((await SettingsFor(dataDir))["BUILDGRID_SQL"]) { Pooling = false }.ToString());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = @service", connection);
        command.Parameters.AddWithValue("service", service);
        return (long)(await command.ExecuteScalarAsync())! > 0;
    }

    /// <summary>BUILDGRID_SQL_PROVIDER and BUILDGRID_SQL for <paramref name="database"/> of this cluster.</summary>
    public IReadOnlyDictionary<string, string> Settings(string database) => new Dictionary<string, string>
    {
        ["BUILDGRID_SQL_PROVIDER"] = "postgres",
        ["BUILDGRID_SQL"] = ConnectionString(database),
    };

    // Idle connections close after 10 s: a test run starts hundreds of hosts, each with pools of its own.
    public string ConnectionString(string database) =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Connection Idle Lifetime=10;Connection Pruning Interval=5";

    public static async Task<PostgresServer> StartAsync()
    {
        var server = new PostgresServer();
        try
        {
            if (AsRoot)
                await RunAsync("chown", "postgres:postgres", server.dir);
            await RunAsync(Path.Combine(Bin, "initdb"), "-D", server.DataDirectory, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8",
                "--no-sync");
            await server.RestartAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the server (again, after <see cref="KillAsync"/>) on the same port and data: crash recovery replays its WAL.</summary>
    public async Task RestartAsync()
    {
        // fsync=off: the tests kill processes, not machines; a killed server loses nothing the OS has been handed.
        string[] server = ["setsid", Path.Combine(Bin, "postgres"), "-D", DataDirectory, "-p", Port.ToString(CultureInfo.InvariantCulture), "-k", dir,
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=500", "-c", "shared_buffers=32MB"];
        var start = AsRoot ? new ProcessStartInfo("runuser", ["-u", "postgres", "--", .. server]) : new ProcessStartInfo(server[0], server[1..]);
        start.RedirectStandardOutput = start.RedirectStandardError = true;
        start.UseShellExecute = false;
        process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await using var connection = new NpgsqlConnection(ConnectionString("postgres") + ";Pooling=false;Timeout=2");
                await connection.OpenAsync();
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException && deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                if (process.HasExited)
                    throw new InvalidOperationException($"postgres exited with {process.ExitCode} at start ({DataDirectory})");
                await Task.Delay(50);
            }
        }
    }

    /// <summary>A new, empty database.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "bg_" + Guid.NewGuid().ToString("N")[..16];
        await using var connection = new NpgsqlConnection(ConnectionString("postgres") + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        await command.ExecuteNonQueryAsync();
        return name;
    }

    /// <summary>kill -9 of the postmaster and all its backends (its process group); waits until they are gone.</summary>
    public async Task KillAsync()
    {
        var pidFile = Path.Combine(DataDirectory, "postmaster.pid");
        if (!File.Exists(pidFile))
            return;
        var pid = int.Parse((await File.ReadAllLinesAsync(pidFile))[0].Trim(), CultureInfo.InvariantCulture);
        await RunAsync("kill", "-KILL", "--", $"-{pid}");
        for (var i = 0; i < 400 && Directory.Exists($"/proc/{pid}") && !IsZombie(pid); i++)
            await Task.Delay(25);
        if (process is not null)
            await process.WaitForExitAsync();
        // Backends die with their group; give the kernel a moment to release their shared memory.
        await Task.Delay(100);
    }

    static bool IsZombie(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/stat").Split(' ')[2] == "Z"; }
        catch (IOException) { return true; }
    }

    static async Task RunAsync(string file, params string[] arguments)
    {
        var start = AsRoot && file.StartsWith(Bin, StringComparison.Ordinal)
            ? new ProcessStartInfo("runuser", ["-u", "postgres", "--", file, .. arguments])
            : new ProcessStartInfo(file, arguments);
        start.RedirectStandardOutput = start.RedirectStandardError = true;
        start.UseShellExecute = false;
        using var run = Process.Start(start)!;
        var output = run.StandardOutput.ReadToEndAsync();
        var error = run.StandardError.ReadToEndAsync();
        await run.WaitForExitAsync();
        if (run.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {run.ExitCode}: {await error}{await output}");
    }

    public async ValueTask DisposeAsync()
    {
        try { await KillAsync(); }
        catch (Exception e) when (e is IOException or InvalidOperationException or FormatException) { }
        process?.Dispose();
        TestDirectories.TryDelete(dir);
    }
}
