using System.Globalization;
using System.Diagnostics;
using System.Net.Sockets;

namespace BuildGrid.Tests.Infrastructure;

/// <summary>A real redis-server (Debian's Redis 7) on a free loopback port, without persistence, for one test.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    Process? process;
    readonly string dir = TestDirectories.Create("redis");

    public int Port { get; } = ServiceProcess.FreePort();
    public string ConnectionString => $"127.0.0.1:{Port},abortConnect=false";

    public static async Task<RedisServer> StartAsync()
    {
        var server = new RedisServer();
        await server.RestartAsync();
        return server;
    }

    /// <summary>Starts (again, after <see cref="KillAsync"/>) on the same port; the data is gone, as after a crash without persistence.</summary>
    public async Task RestartAsync()
    {
        var binary = Tools.Require("redis-server", "redis-server");
        process = Process.Start(new ProcessStartInfo(binary, ["--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        })!;
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        for (var i = 0; i < 200; i++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", Port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(25);
            }
        }
        throw new TimeoutException("redis-server did not start");
    }

    public async Task KillAsync()
    {
        if (process is { HasExited: false })
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        process?.Dispose();
        TestDirectories.TryDelete(dir);
    }
}
