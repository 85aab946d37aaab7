using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace BuildGrid.Benchmarks;

/// <summary>
/// Issue 6's figures, BuildGrid's /v2/ against docker-registry (the CNCF distribution registry) on this machine in the
/// same run: blob push and pull throughput for 1 MB, 64 MB and 512 MB blobs with 8 concurrent clients (every blob
/// distinct and streamed, so nothing is deduplicated or buffered by the client), manifest GET req/s, and the resident
/// memory of BuildGrid while it streams a 1 GB blob in and out.
/// </summary>
public static class RegistryBenchmark
{
    const int Clients = 8;

    public static async Task RunAsync()
    {
        await using var buildgrid = await GatewayProcess.StartAsync();
        var reference = await StartDockerRegistryAsync();
        try
        {
            var targets = new (string Name, Uri Url, int Pid)[] { ("docker-registry", reference.Url, reference.Process.Id), ("BuildGrid", buildgrid.RestUrl, buildgrid.Id) };
            // Server CPU seconds per GB pushed (from /proc): on a shared machine throughput follows the other tenants'
            // load, while the CPU a push costs the server does not.
            Console.WriteLine($"{"size",-8} {"registry",-16} {"push MB/s",10} {"pull MB/s",10} {"push CPU s/GB",14}");
            foreach (var size in new[] { 1L << 20, 64L << 20, 512L << 20 })
            {
                var results = new Dictionary<string, (double Push, double Pull)>();
                foreach (var (name, url, pid) in targets)
                {
                    using var http = Client(url);
                    var cpu = CpuSeconds(pid);
                    var blobs = await PushAllAsync(http, $"bench/{size >> 20}m", size, size <= (1 << 20) ? 16 : 1);
                    var cpuPerGb = (CpuSeconds(pid) - cpu) / (blobs.Blobs.Sum(b => b.Size) / (double)(1L << 30));
                    var pull = await PullAllAsync(http, $"bench/{size >> 20}m", blobs);
                    results[name] = (blobs.MegabytesPerSecond, pull);
                    Console.WriteLine($"{size >> 20,5} MB {name,-16} {blobs.MegabytesPerSecond,10:F1} {pull,10:F1} {cpuPerGb,14:F2}");
                }
                Console.WriteLine($"{size >> 20,5} MB ratio BuildGrid/docker-registry: push {results["BuildGrid"].Push / results["docker-registry"].Push:F2}, " +
                    $"pull {results["BuildGrid"].Pull / results["docker-registry"].Pull:F2} (goal >= 1.25)");
            }

            var manifests = new Dictionary<string, double>();
            foreach (var (name, url, _) in targets)
            {
                using var http = Client(url);
                var digest = await PushImageAsync(http, "bench/app", "1.0");
                var result = await Load.RunAsync($"manifest GET {name}", 32, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(8), async _ =>
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, "/v2/bench/app/manifests/1.0");
                    request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
                    using var response = await http.SendAsync(request);
                    await response.Content.ReadAsByteArrayAsync();
                    return response.IsSuccessStatusCode && response.Headers.GetValues("Docker-Content-Digest").Single() == digest;
                });
                manifests[name] = result.PerSecond;
                Console.WriteLine(result);
            }
            Console.WriteLine($"manifest GET ratio BuildGrid/docker-registry: {manifests["BuildGrid"] / manifests["docker-registry"]:F2} (goal >= 1.25)");

            // Memory while streaming 1 GB through BuildGrid (push then pull), sampled every 100 ms.
            using (var http = Client(buildgrid.RestUrl))
            {
                var before = buildgrid.ResidentBytes();
                long peak = before;
                using var sampling = new CancellationTokenSource();
                var sampler = Task.Run(async () =>
                {
                    while (!sampling.IsCancellationRequested) { peak = Math.Max(peak, buildgrid.ResidentBytes()); await Task.Delay(100); }
                });
                var one = await PushAllAsync(http, "bench/1g", 1L << 30, 1, clients: 1);
                await PullAllAsync(http, "bench/1g", one);
                await sampling.CancelAsync();
                await sampler;
                Console.WriteLine($"BuildGrid resident memory streaming 1 GB in and out: {before >> 20} MB before, {peak >> 20} MB peak");
            }
        }
        finally
        {
            if (!reference.Process.HasExited) reference.Process.Kill();
            try { Directory.Delete(reference.Dir, true); } catch (IOException) { }
        }
    }

    /// <summary>User plus system CPU time of a process, from /proc/&lt;pid&gt;/stat (fields 14 and 15, in clock ticks of 1/100 s).</summary>
    static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11]) + long.Parse(fields[12])) / 100.0;
    }

    static HttpClient Client(Uri url) => new(new SocketsHttpHandler { MaxConnectionsPerServer = Clients * 2, AllowAutoRedirect = false })
    { BaseAddress = url, Timeout = TimeSpan.FromMinutes(10) };

    sealed record Pushed(List<(string Digest, long Size)> Blobs, double MegabytesPerSecond);

    /// <summary>Each client pushes <paramref name="perClient"/> distinct blobs: POST, PATCH (streamed), PUT ?digest=.</summary>
    static async Task<Pushed> PushAllAsync(HttpClient http, string repository, long size, int perClient, int clients = Clients)
    {
        var stopwatch = Stopwatch.StartNew();
        var pushed = await Task.WhenAll(Enumerable.Range(0, clients).Select(async client =>
        {
            var mine = new List<(string, long)>();
            for (var i = 0; i < perClient; i++)
                mine.Add((await PushBlobAsync(http, repository, size, seed: HashCode.Combine(repository, client, i, Environment.TickCount64)), size));
            return mine;
        }));
        var all = pushed.SelectMany(p => p).ToList();
        return new Pushed(all, all.Sum(b => b.Item2) / 1048576.0 / stopwatch.Elapsed.TotalSeconds);
    }

    static async Task<string> PushBlobAsync(HttpClient http, string repository, long size, int seed)
    {
        using var start = await http.PostAsync($"/v2/{repository}/blobs/uploads/", null);
        if (start.StatusCode != HttpStatusCode.Accepted) throw new InvalidOperationException($"upload start: {start.StatusCode}");
        var location = start.Headers.Location!;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var content = new StreamContent(new RandomStream(size, seed, hash), 1 << 20);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.ContentLength = size;
        using var patch = await http.SendAsync(new HttpRequestMessage(HttpMethod.Patch, location) { Content = content });
        if (patch.StatusCode != HttpStatusCode.Accepted) throw new InvalidOperationException($"upload patch: {patch.StatusCode}");
        var digest = "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
        var next = patch.Headers.Location!.ToString();
        using var put = await http.PutAsync(next + (next.Contains('?') ? "&" : "?") + "digest=" + digest, null);
        if (put.StatusCode != HttpStatusCode.Created) throw new InvalidOperationException($"upload put: {put.StatusCode} {await put.Content.ReadAsStringAsync()}");
        return digest;
    }

    static async Task<double> PullAllAsync(HttpClient http, string repository, Pushed pushed)
    {
        var stopwatch = Stopwatch.StartNew();
        var buffer = new byte[1 << 20];
        await Task.WhenAll(pushed.Blobs.Chunk(Math.Max(1, pushed.Blobs.Count / Clients)).Select(group => Task.Run(async () =>
        {
            var local = new byte[1 << 20];
            foreach (var (digest, _) in group)
            {
                using var response = await http.GetAsync($"/v2/{repository}/blobs/{digest}", HttpCompletionOption.ResponseHeadersRead);
                response.EnsureSuccessStatusCode();
                await using var body = await response.Content.ReadAsStreamAsync();
                while (await body.ReadAsync(local) > 0) { }
            }
        })));
        return pushed.Blobs.Sum(b => b.Size) / 1048576.0 / stopwatch.Elapsed.TotalSeconds;
    }

    static async Task<string> PushImageAsync(HttpClient http, string repository, string tag)
    {
        var config = Encoding.UTF8.GetBytes("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}");
        var configDigest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(config));
        using (var post = await http.PostAsync($"/v2/{repository}/blobs/uploads/", null))
        {
            var location = post.Headers.Location!.ToString();
            using var put = await http.PutAsync(location + (location.Contains('?') ? "&" : "?") + "digest=" + configDigest, new ByteArrayContent(config));
            put.EnsureSuccessStatusCode();
        }
        var manifest = Encoding.UTF8.GetBytes($"{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"{configDigest}\",\"size\":{config.Length}}},\"layers\":[]}}");
        var content = new ByteArrayContent(manifest);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.oci.image.manifest.v1+json");
        using var response = await http.PutAsync($"/v2/{repository}/manifests/{tag}", content);
        response.EnsureSuccessStatusCode();
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(manifest));
    }

    sealed record Reference(Process Process, Uri Url, string Dir);

    static async Task<Reference> StartDockerRegistryAsync()
    {
        var dir = Path.Combine(Path.GetTempPath(), "buildgrid-bench", "docker-registry-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0)) { listener.Start(); port = ((IPEndPoint)listener.LocalEndpoint).Port; }
        var config = Path.Combine(dir, "config.yml");
        await File.WriteAllTextAsync(config, $"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n");
        var process = Process.Start(new ProcessStartInfo("docker-registry", ["serve", config]) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true })!;
        process.ErrorDataReceived += (_, _) => { };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var url = new Uri($"http://127.0.0.1:{port}");
        using var http = new HttpClient();
        for (var i = 0; i < 200; i++)
        {
            try { if ((await http.GetAsync(new Uri(url, "/v2/"))).IsSuccessStatusCode) break; }
            catch (HttpRequestException) { await Task.Delay(25); }
        }
        return new Reference(process, url, dir);
    }

    /// <summary>Pseudo-random bytes of a given length, hashed as they are read (the blob never exists whole in memory).</summary>
    sealed class RandomStream(long length, int seed, IncrementalHash hash) : Stream
    {
        readonly Random random = new(seed);
        long position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            var n = (int)Math.Min(buffer.Length, length - position);
            if (n <= 0) return 0;
            random.NextBytes(buffer[..n]);
            hash.AppendData(buffer[..n]);
            position += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
