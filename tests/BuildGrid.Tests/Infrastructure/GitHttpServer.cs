using System.Globalization;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace BuildGrid.Tests.Infrastructure;

/// <summary>
/// Real git over smart HTTP on loopback: <c>git http-backend</c> (git's own CGI server) behind a small Kestrel CGI shim
/// that demands Basic credentials, as a code host does. While it serves a request — a clone is running then — it reads
/// every process's command line and environment and records any that holds <see cref="Secret"/>.
/// </summary>
public sealed class GitHttpServer : IAsyncDisposable
{
    readonly WebApplication app;
    GitHttpServer(WebApplication app, string secret) => (this.app, Secret) = (app, secret);

    public string Secret { get; }
    public Uri Url { get; private set; } = null!;
    public ConcurrentQueue<string> Refused { get; } = new();
    /// <summary>"pid: cmdline" or "pid: environ" of each process seen holding the secret while a request was served.</summary>
    public ConcurrentQueue<string> SecretSeenIn { get; } = new();
    int served;
    /// <summary>How many requests were served (authenticated).</summary>
    public int Served => Volatile.Read(ref served);

    /// <summary>Serves the bare repositories under <paramref name="root"/> to user <paramref name="user"/> with password <paramref name="secret"/>.</summary>
    public static async Task<GitHttpServer> StartAsync(string root, string user, string secret)
    {
        var git = Tools.Require("git", "git");
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new GitHttpServer(app, secret);
        var expected = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{secret}"));
        app.Map("/{**path}", async (HttpContext context) =>
        {
            server.ScanProcesses();
            if (context.Request.Headers.Authorization.ToString() != expected)
            {
                server.Refused.Enqueue(context.Request.Path);
                context.Response.StatusCode = 401;
                context.Response.Headers.WWWAuthenticate = "Basic realm=\"git\"";
                return;
            }
            Interlocked.Increment(ref server.served);
            var start = new ProcessStartInfo(git, ["http-backend"])
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            start.Environment["GIT_PROJECT_ROOT"] = root;
            start.Environment["GIT_HTTP_EXPORT_ALL"] = "1";
            start.Environment["REQUEST_METHOD"] = context.Request.Method;
            start.Environment["PATH_INFO"] = context.Request.Path.Value ?? "/";
            start.Environment["QUERY_STRING"] = context.Request.QueryString.Value?.TrimStart('?') ?? "";
            start.Environment["CONTENT_TYPE"] = context.Request.ContentType ?? "";
            start.Environment["REMOTE_USER"] = user;
            start.Environment["REMOTE_ADDR"] = "127.0.0.1";
            if (context.Request.Headers.ContentEncoding.ToString() is { Length: > 0 } encoding)
                start.Environment["HTTP_CONTENT_ENCODING"] = encoding;
            if (context.Request.Headers["Git-Protocol"].ToString() is { Length: > 0 } protocol)
                start.Environment["GIT_PROTOCOL"] = protocol;
            using var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEndAsync();
            await context.Request.Body.CopyToAsync(process.StandardInput.BaseStream);
            process.StandardInput.Close();
            var output = process.StandardOutput.BaseStream;
            // CGI headers up to the blank line, then the body as it comes.
            while (true)
            {
                var line = new StringBuilder();
                int b;
                while ((b = output.ReadByte()) >= 0 && b != '\n')
                    if (b != '\r') line.Append((char)b);
                if (line.Length == 0)
                    break;
                var text = line.ToString();
                var colon = text.IndexOf(':');
                var (name, value) = (text[..colon], text[(colon + 1)..].Trim());
                if (name.Equals("Status", StringComparison.OrdinalIgnoreCase))
                    context.Response.StatusCode = int.Parse(value.Split(' ')[0], CultureInfo.InvariantCulture);
                else
                    context.Response.Headers.Append(name, value);
                if (b < 0) break;
            }
            await output.CopyToAsync(context.Response.Body);
            await process.WaitForExitAsync();
            await stderr;
        });
        await app.StartAsync();
        server.Url = new Uri(app.Urls.First());
        return server;
    }

    void ScanProcesses()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId) continue;
            foreach (var file in new[] { "cmdline", "environ" })
            {
                try
                {
                    if (File.ReadAllText(Path.Combine(dir, file)).Contains(Secret, StringComparison.Ordinal))
                        SecretSeenIn.Enqueue($"{pid}: {file}");
                }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
