using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using BuildGrid.Core.Hosting;
using Garnet;

namespace BuildGrid.Standalone;

/// <summary>
/// Standalone mode's Redis: Microsoft Garnet in this process, on a loopback port (BUILDGRID_GARNET_PORT, default a free
/// one), with its append-only file and checkpoints under {data}/garnet so queued work survives a restart.
/// <para>Only BuildGrid talks to it: it requires a password, generated at first start and kept in
/// {data}/garnet/password (0600, like the rest of the data directory), handed to the client in-process — never on a
/// command line or in the environment. Garnet never evicts a key (no cache eviction exists in it: what exceeds
/// <c>--memory</c> goes to its disk log), so queue and lease keys are never lost to memory pressure; the append-only file
/// is bounded by a checkpoint once it passes <c>--aof-size-limit</c>.</para>
/// </summary>
public sealed class EmbeddedGarnet(BuildGridSettings settings, IConfiguration configuration, ILogger<EmbeddedGarnet> logger)
    : IHostedService, IDisposable
{
    GarnetServer? server;

    /// <summary>A StackExchange.Redis connection string for the running server.</summary>
    public string ConnectionString => Endpoint is { } endpoint && password is not null
        ? $"{endpoint},abortConnect=false,password={password}"
        : throw new InvalidOperationException("Garnet is not started.");
    string? password;
    public string? Endpoint { get; private set; }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var port = int.TryParse(configuration["BUILDGRID_GARNET_PORT"], out var configured) && configured > 0 ? configured : FreePort();
        var directory = Path.Combine(settings.DataDir, "garnet");
        OwnerOnlyFiles.CreateDirectory(directory);
        password = PasswordIn(directory);
        server = new GarnetServer(
        [
            "--bind", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--auth", "Password", "--password", password,
            // A checkpoint once the append-only file passes 64 MiB: a full queue cannot fill the disk through it.
            "--aof-size-limit", "64m",
            "--checkpointdir", directory, "--aof", "true", "--recover", "true",
            // Managed file I/O: the native device needs libaio, which a fresh machine lacks.
            "--device-type", "RandomAccess",
            // Sized for queues, leases and log fan-out, not for a cache: Garnet's defaults reserve gigabytes.
            "--memory", "32m", "--page", "1m", "--index", "1m", "--aof-memory", "8m", "--aof-page-size", "2m",
            // Quiet: no version banner and text art on stdout, which is the log stream of a container.
            "-q",
        ]);
        server.Start();
        Endpoint = $"127.0.0.1:{port}";
        Log.GarnetStarted(logger, Endpoint, directory);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        server?.Dispose();
        server = null;
    }

    /// <summary>The server's password: read from {directory}/password, or generated there (0600) at first start.</summary>
    static string PasswordIn(string directory)
    {
        var path = Path.Combine(directory, "password");
        if (File.Exists(path) && File.ReadAllText(path).Trim() is { Length: >= 32 } existing)
            return existing;
        var generated = Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant();
        var temp = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var file = new FileStream(temp, options))
        {
            file.Write(System.Text.Encoding.ASCII.GetBytes(generated));
            file.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
        return generated;
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
