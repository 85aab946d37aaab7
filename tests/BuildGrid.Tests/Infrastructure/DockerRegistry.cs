using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;

namespace BuildGrid.Tests.Infrastructure;

/// <summary>
/// The CNCF distribution registry (Debian's docker-registry) on a free loopback port: a reference registry. With
/// <c>user</c>/<c>password</c> it requires them (htpasswd auth: a Basic challenge). Its access log is kept, so that a
/// test can count the requests it served (<see cref="Requests"/>).
/// </summary>
public sealed class DockerRegistry : IAsyncDisposable
{
    readonly Process process;
    readonly string dir;
    readonly ConcurrentQueue<string> accessLog;

    DockerRegistry(Process process, string dir, int port, ConcurrentQueue<string> accessLog) =>
        (this.process, this.dir, Port, this.accessLog) = (process, dir, port, accessLog);

    public int Port { get; }
    public string Host => $"127.0.0.1:{Port}";
    public Uri Url => new($"http://{Host}/");

    /// <summary>The request lines served so far, such as <c>GET /v2/a/blobs/sha256:... HTTP/1.1</c> (the access log's).</summary>
    public IReadOnlyList<string> Requests => accessLog.Select(line => line.Split('"') is { Length: > 2 } parts ? parts[1] : line).ToList();

    /// <summary>Stops the registry, as an upstream that went away (dispose still removes its files).</summary>
    public async Task StopAsync()
    {
        if (!process.HasExited) process.Kill();
        await process.WaitForExitAsync();
    }

    public static async Task<DockerRegistry> StartAsync(string? user = null, string? password = null)
    {
        var binary = Tools.Require("docker-registry", "docker-registry");
        var dir = TestDirectories.Create("registry");
        var port = ServiceProcess.FreePort();
        var config = Path.Combine(dir, "config.yml");
        var auth = "";
        if (user is not null)
        {
            var htpasswd = Path.Combine(dir, "htpasswd");
            await File.WriteAllTextAsync(htpasswd, $"{user}:{BCrypt.Net.BCrypt.HashPassword(password, 5)}\n");
            auth = $"""

                auth:
                  htpasswd:
                    realm: test-upstream
                    path: {htpasswd}
                """;
        }
        await File.WriteAllTextAsync(config, $"""
            version: 0.1
            log:
              level: warn
              accesslog:
                disabled: false{auth}
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
        var accessLog = new ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) => { if (e.Data is { } line && line.Contains('"', StringComparison.Ordinal)) accessLog.Enqueue(line); };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        for (var i = 0; i < 200; i++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return new DockerRegistry(process, dir, port, accessLog);
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
