using System.Diagnostics;
using System.Net.Sockets;

namespace BuildGrid.Tests.Infrastructure;

/// <summary>The CNCF distribution registry (Debian's docker-registry) on a free loopback port: a reference registry.</summary>
public sealed class DockerRegistry : IAsyncDisposable
{
    readonly Process process;
    readonly string dir;

    DockerRegistry(Process process, string dir, int port) => (this.process, this.dir, Port) = (process, dir, port);

    public int Port { get; }
    public string Host => $"127.0.0.1:{Port}";

    public static async Task<DockerRegistry> StartAsync()
    {
        var binary = Tools.Require("docker-registry", "docker-registry");
        var dir = TestDirectories.Create("registry");
        var port = ServiceProcess.FreePort();
        var config = Path.Combine(dir, "config.yml");
        await File.WriteAllTextAsync(config, $"""
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: {Path.Combine(dir, "data")}
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{port}
            """);
        var process = Process.Start(new ProcessStartInfo(binary, ["serve", config])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        })!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        for (var i = 0; i < 200; i++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return new DockerRegistry(process, dir, port);
            }
            catch (SocketException)
            {
                await Task.Delay(25);
            }
        }
        throw new TimeoutException("docker-registry did not start");
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited) process.Kill();
        await process.WaitForExitAsync();
        process.Dispose();
        TestDirectories.TryDelete(dir);
    }
}
