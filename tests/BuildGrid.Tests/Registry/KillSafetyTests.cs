using System.Globalization;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Registry;

/// <summary>
/// The registry as its own process (services/BuildGrid.Registry, distributed mode), killed with SIGKILL in the middle of
/// a 200 MB push: no partial blob is ever visible, the chunked session resumes after the restart, and the next push
/// succeeds with the right digest.
/// </summary>
public sealed class KillSafetyTests : IDisposable
{
    const long BlobSize = 200L * 1024 * 1024;
    readonly string dataDir = TestDirectories.Create("registry-kill");
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => TestDirectories.TryDelete(dataDir);

    [Fact]
    public async Task Kill_9_during_a_200_MB_push_leaves_no_partial_blob_and_the_next_push_succeeds()
    {
        var digest = await DigestOfAsync();
        var hex = digest["sha256:".Length..];
        var blobFile = Path.Combine(dataDir, "registry", "blobs", "sha256", hex[..2], hex);
        var uploads = Path.Combine(dataDir, "registry", "uploads");

        string location;
        await using (var first = await RegistryProcess.StartAsync(dataDir))
        {
            using var http = new HttpClient { BaseAddress = first.RestUrl };
            using var session = await http.PostAsync("/v2/team/big/blobs/uploads/", null, Ct);
            Assert.Equal(HttpStatusCode.Accepted, session.StatusCode);
            location = session.Headers.Location!.OriginalString;

            // Two pushes in flight: a monolithic POST ?digest= and a chunk of the session, each stopped half way.
            using var monolithic = await SendPartialAsync(first.RestUrl, "POST", $"/v2/team/big/blobs/uploads/?digest={digest}");
            using var chunk = await SendPartialAsync(first.RestUrl, "PATCH", location);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (Directory.EnumerateFiles(uploads).Count(f => new FileInfo(f).Length >= BlobSize / 4) < 2 && DateTime.UtcNow < deadline)
                await Task.Delay(50, Ct);
            first.Kill();
        }
        Assert.False(File.Exists(blobFile), "a partial blob is in the blob store");

        await using var second = await RegistryProcess.StartAsync(dataDir);
        using var client = new HttpClient { BaseAddress = second.RestUrl };
        using (var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/team/big/blobs/{digest}"), Ct))
            Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);

        // The session survived the kill: resume from where the server says it is.
        using var status = await client.GetAsync(location, Ct);
        Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
        var received = long.Parse(status.Headers.GetValues("Range").Single().Split('-')[1], CultureInfo.InvariantCulture) + 1;
        Assert.InRange(received, BlobSize / 4, BlobSize - 1);
        using (var rest = new HttpRequestMessage(HttpMethod.Put, $"{location}?digest={digest}"))
        {
            rest.Content = new StreamContent(new PatternStream(BlobSize, received));
            rest.Content.Headers.TryAddWithoutValidation("Content-Range", $"{received}-{BlobSize - 1}");
            using var done = await client.SendAsync(rest, Ct);
            Assert.Equal(HttpStatusCode.Created, done.StatusCode);
        }
        using (var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/team/big/blobs/{digest}"), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Equal(BlobSize, head.Content.Headers.ContentLength);
        }
        Assert.Equal(digest, "sha256:" + Convert.ToHexStringLower(await SHA256.HashDataAsync(File.OpenRead(blobFile), Ct)));

        // And a fresh monolithic push of the same blob into another repository succeeds (deduplicated on disk).
        using (var again = new HttpRequestMessage(HttpMethod.Post, $"/v2/team/again/blobs/uploads/?digest={digest}"))
        {
            again.Content = new StreamContent(new PatternStream(BlobSize, 0));
            using var created = await client.SendAsync(again, Ct);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }
        // The killed monolithic upload's temp file is no blob: it waits for the collector's stray-file pass.
        Assert.Single(Directory.EnumerateFiles(Path.GetDirectoryName(blobFile)!));
    }

    static async Task<string> DigestOfAsync()
    {
        await using var stream = new PatternStream(BlobSize, 0);
        return "sha256:" + Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, Ct));
    }

    /// <summary>Sends the headers of a 200 MB body and half of it, then leaves the socket open (the kill cuts it).</summary>
    static async Task<TcpClient> SendPartialAsync(Uri server, string method, string path)
    {
        var client = new TcpClient();
        await client.ConnectAsync(server.Host, server.Port, Ct);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"{method} {path} HTTP/1.1\r\nHost: {server.Authority}\r\nContent-Type: application/octet-stream\r\nContent-Length: {BlobSize}\r\n\r\n"), Ct);
        await using var body = new PatternStream(BlobSize / 2, 0);
        await body.CopyToAsync(stream, 1024 * 1024, Ct);
        await stream.FlushAsync(Ct);
        return client;
    }

    /// <summary>Deterministic pseudo-random bytes, generated as read: a 200 MB blob without 200 MB in memory.</summary>
    sealed class PatternStream(long length, long start) : Stream
    {
        long position = start;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - position);
            for (var i = 0; i < n; i++)
            {
                var p = (ulong)(position + i);
                buffer[offset + i] = (byte)((p * 2654435761UL) >> 13 ^ p >> 7);
            }
            position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>services/BuildGrid.Registry run as its own process (distributed mode) on loopback port 0.</summary>
public sealed class RegistryProcess : IAsyncDisposable
{
    readonly Process process;

    RegistryProcess(Process process, Uri restUrl)
    {
        this.process = process;
        RestUrl = restUrl;
    }

    public Uri RestUrl { get; }

    public static async Task<RegistryProcess> StartAsync(string dataDir)
    {
        // bin/<Configuration>/net10.0/ of this test assembly names the configuration to look for.
        var configuration = Path.GetFileName(Path.GetDirectoryName(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)))!;
        var dll = Path.Combine(TestDirectories.RepositoryRoot, "services", "BuildGrid.Registry", "bin", configuration,
            "net10.0", "BuildGrid.Registry.dll");
        Assert.True(File.Exists(dll), $"{dll} is not built");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { dll, "--BUILDGRID_REST_URL=http://127.0.0.1:0", "--BUILDGRID_GRPC_URL=http://127.0.0.1:0",
            $"--BUILDGRID_DATA_DIR={dataDir}", "--Logging:LogLevel:Default=Information", "--Logging:LogLevel:Microsoft.AspNetCore=Warning" })
            start.ArgumentList.Add(arg);
        var process = Process.Start(start)!;
        var rest = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (output) output.AppendLine(e.Data);
            var at = e.Data.IndexOf("rest=", StringComparison.Ordinal);
            if (at >= 0)
                rest.TrySetResult(new Uri(e.Data[(at + 5)..].Split(' ')[0]));
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var started = await Task.WhenAny(rest.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(60)));
        if (started != rest.Task)
        {
            if (!process.HasExited) process.Kill();
            lock (output) Assert.Fail($"the registry process did not start:\n{output}");
        }
        return new RegistryProcess(process, await rest.Task);
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public void Kill()
    {
        process.Kill();
        process.WaitForExit();
    }

    public ValueTask DisposeAsync()
    {
        if (!process.HasExited)
            Kill();
        process.Dispose();
        return ValueTask.CompletedTask;
    }
}
