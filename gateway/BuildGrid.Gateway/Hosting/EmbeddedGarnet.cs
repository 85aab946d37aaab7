using System.Net;
using System.Net.Sockets;
using BuildGrid.Core.Hosting;
using Garnet;

namespace BuildGrid.Gateway.Hosting;

/// <summary>
/// Standalone mode's Redis: Microsoft Garnet in this process, on a loopback port (BUILDGRID_GARNET_PORT, default a free
/// one), with its append-only file and checkpoints under {data}/garnet so queued work survives a restart.
/// </summary>
public sealed class EmbeddedGarnet(BuildGridSettings settings, IConfiguration configuration, ILogger<EmbeddedGarnet> logger)
    : IHostedService, IDisposable
{
    GarnetServer? server;

    /// <summary>A StackExchange.Redis connection string for the running server.</summary>
    public string ConnectionString => Endpoint is { } endpoint ? $"{endpoint},abortConnect=false" : throw new InvalidOperationException("Garnet is not started.");
    public string? Endpoint { get; private set; }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var port = int.TryParse(configuration["BUILDGRID_GARNET_PORT"], out var configured) && configured > 0 ? configured : FreePort();
        var directory = Path.Combine(settings.DataDir, "garnet");
        Directory.CreateDirectory(directory);
        server = new GarnetServer(
        [
            "--bind", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--checkpointdir", directory, "--aof", "true", "--recover", "true",
            // Managed file I/O: the native device needs libaio, which a fresh machine lacks.
            "--device-type", "RandomAccess",
            // Sized for queues, leases and log fan-out, not for a cache: Garnet's defaults reserve gigabytes.
            "--memory", "32m", "--page", "1m", "--index", "1m", "--aof-memory", "8m", "--aof-page-size", "2m",
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

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
