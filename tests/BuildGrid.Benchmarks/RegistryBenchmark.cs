using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace BuildGrid.Benchmarks;

/// <summary>
/// The registry figures, BuildGrid's /v2/ against docker-registry (the CNCF distribution registry) on this machine in the
/// same run: blob push and pull throughput for 1 MB, 64 MB and 512 MB blobs with 8 concurrent clients (every blob
/// distinct and streamed, so nothing is deduplicated or buffered by the client), manifest GET req/s, and the resident
/// memory of BuildGrid while it streams a 1 GB blob in and out.
/// </summary>
public static class RegistryBenchmark
{
    const int Clients = 8;

    public static async Task RunAsync(long[] sizesInMegabytes)
    {
        // BUILDGRID_BENCH_ENV="K=V;K2=V2" passes settings to the BuildGrid process (for trying runtime knobs).
        var environment = (Environment.GetEnvironmentVariable("BUILDGRID_BENCH_ENV") ?? "")
            .Split(';', StringSplitOptions.RemoveEmptyEntries).Select(kv => kv.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]);
        await using var buildgrid = await GatewayProcess.StartAsync(environment);
        var reference = await StartDockerRegistryAsync();
        try
        {
            var targets = new (string Name, Uri Url, int Pid)[] { ("docker-registry", reference.Url, reference.Process.Id), ("BuildGrid", buildgrid.RestUrl, buildgrid.Id) };
            // Warm both servers up with rounds of each kind of push that are not measured: these figures are steady-state
            // throughput (cold start is the projects benchmark's). Profiles showed a third of BuildGrid's CPU in the JIT
            // (tier-0, instrumented and tier-1 compiles) during the first measured round, and the number of compiled
            // methods (the perf map) still growing by thousands per round until the fourth 1 MB round.
            foreach (var (_, url, _) in targets)
            {
                using var http = Client(url);
                for (var round = 0; round < 4; round++)
                {
                    var small = Blobs(1 << 20, 32 * Clients, "warmup");
                    await PushAllAsync(http, "bench/warmup", small);
                    await PullAllAsync(http, "bench/warmup", small);
                }
                var large = Blobs(64 << 20, Clients, "warmup");
                await PushAllAsync(http, "bench/warmup", large);
                await PullAllAsync(http, "bench/warmup", large);
            }
            // Server CPU seconds per GB pushed (from /proc): on a shared machine throughput follows the other tenants'
            // load, while the CPU a push costs the server does not.
            Console.WriteLine($"{"size",-8} {"registry",-16} {"push MB/s",10} {"pull MB/s",10} {"push CPU s/GB",14} {"pull CPU s/GB",14}");
            foreach (var size in sizesInMegabytes.Select(m => m << 20))
            {
                // The same blobs go to both registries; their digests are computed before the clock starts. Two halves, at
                // least 2 GB each (256 x 1 MB excepted: 8 x 64 MB took a second, and a second's figure swung 2x run to run),
                // measured in ABBA order (docker-registry then BuildGrid for the first, BuildGrid then docker-registry for
                // the second), so that the machine's drift during a run (other tenants, the host's memory) favours neither.
                var count = size <= (1 << 20) ? 32 * Clients : (int)Math.Max(1, (2L << 30) / size / Clients) * Clients;
                var halves = new[] { Blobs(size, count, $"{size}a"), Blobs(size, count, $"{size}b") };
                var bytes = halves[0].Sum(b => b.Size);
                // Pulls are 5-8x faster than pushes: each half is pulled until 8 GB have gone (32 times for 1 MB, twice for
                // 512 MB), so that a figure is seconds of streaming rather than a second of start and tail. Many pulls of
                // the same layers are also what a registry mostly serves.
                var passes = (int)Math.Max(1, Math.Round((8L << 30) / (double)bytes));
                var push = targets.ToDictionary(t => t.Name, _ => new Tally());
                var pull = targets.ToDictionary(t => t.Name, _ => new Tally());
                foreach (var (half, order) in new[] { (0, targets), (1, targets.Reverse().ToArray()) })
                    foreach (var (name, url, pid) in order)
                    {
                        using var http = Client(url);
                        Sync(); // the other registry's dirty pages are not this one's to write back
                        var repository = $"bench/{size >> 20}m";
                        await push[name].MeasureAsync(pid, bytes, () => PushAllAsync(http, repository, halves[half]));
                        await pull[name].MeasureAsync(pid, bytes * passes, () => PullAllAsync(http, repository, halves[half], passes));
                    }
                foreach (var (name, _, _) in targets)
                    Console.WriteLine($"{size >> 20,5} MB {name,-16} {push[name].MegabytesPerSecond,10:F1} {pull[name].MegabytesPerSecond,10:F1} " +
                        $"{push[name].CpuSecondsPerGigabyte,14:F2} {pull[name].CpuSecondsPerGigabyte,14:F2}");
                Console.WriteLine($"{size >> 20,5} MB ratio BuildGrid/docker-registry: " +
                    $"push {push["BuildGrid"].MegabytesPerSecond / push["docker-registry"].MegabytesPerSecond:F2}, " +
                    $"pull {pull["BuildGrid"].MegabytesPerSecond / pull["docker-registry"].MegabytesPerSecond:F2} (goal >= 1.25)");
            }

            if (sizesInMegabytes.Length < 3)
                return; // a partial run (--sizes) measures only the blobs asked for
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
                var one = Blobs(1L << 30, 1, "1g");
                await PushAllAsync(http, "bench/1g", one);
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

    /// <summary>A blob of the benchmark: its bytes are made again on every read (see <see cref="BlobContent"/>).</summary>
    sealed record Blob(long Size, long Id, string Digest);

    /// <summary>
    /// <paramref name="count"/> distinct blobs of <paramref name="size"/> bytes with their digests, hashed here, before any
    /// clock starts: the client then only copies bytes to the socket, as <c>docker push</c> of a layer on disk does, so that
    /// the 2 cores it shares with the registry go to the registry rather than to making and hashing random data.
    /// </summary>
    static List<Blob> Blobs(long size, int count, string label)
    {
        var nonce = HashCode.Combine(label, Environment.TickCount64, Environment.ProcessId);
        return Enumerable.Range(0, count).AsParallel().AsOrdered().Select(i =>
        {
            var id = ((long)nonce << 32) | (uint)i;
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using var content = new BlobContent(size, id);
            var buffer = new byte[1 << 20];
            int n;
            while ((n = content.Read(buffer)) > 0)
                hash.AppendData(buffer.AsSpan(0, n));
            return new Blob(size, id, "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset()));
        }).ToList();
    }

    static void Sync() => Process.Start("sync")!.WaitForExit();

    /// <summary>Pushes every blob with <see cref="Clients"/> clients (POST, PATCH streamed, PUT ?digest=); returns the time it took.</summary>
    static async Task<TimeSpan> PushAllAsync(HttpClient http, string repository, List<Blob> blobs)
    {
        var stopwatch = Stopwatch.StartNew();
        var clients = Math.Min(Clients, blobs.Count);
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async client =>
        {
            for (var i = client; i < blobs.Count; i += clients)
                await PushBlobAsync(http, repository, blobs[i]);
        }));
        return stopwatch.Elapsed;
    }

    static async Task PushBlobAsync(HttpClient http, string repository, Blob blob)
    {
        using var start = await http.PostAsync($"/v2/{repository}/blobs/uploads/", null);
        if (start.StatusCode != HttpStatusCode.Accepted) throw new InvalidOperationException($"upload start: {start.StatusCode}");
        var location = start.Headers.Location!;
        var content = new StreamContent(new BlobContent(blob.Size, blob.Id), 1 << 20);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.ContentLength = blob.Size;
        using var patch = await http.SendAsync(new HttpRequestMessage(HttpMethod.Patch, location) { Content = content });
        if (patch.StatusCode != HttpStatusCode.Accepted) throw new InvalidOperationException($"upload patch: {patch.StatusCode}");
        var next = patch.Headers.Location!.ToString();
        using var put = await http.PutAsync(next + (next.Contains('?') ? "&" : "?") + "digest=" + blob.Digest, null);
        if (put.StatusCode != HttpStatusCode.Created) throw new InvalidOperationException($"upload put: {put.StatusCode} {await put.Content.ReadAsStringAsync()}");
    }

    /// <summary>Pulls every blob <paramref name="passes"/> times with <see cref="Clients"/> clients; returns the time it took.</summary>
    static async Task<TimeSpan> PullAllAsync(HttpClient http, string repository, List<Blob> blobs, int passes = 1)
    {
        var stopwatch = Stopwatch.StartNew();
        var pulls = blobs.Count * passes;
        var clients = Math.Min(Clients, pulls);
        await Task.WhenAll(Enumerable.Range(0, clients).Select(client => Task.Run(async () =>
        {
            var local = new byte[1 << 20];
            for (var pull = client; pull < pulls; pull += clients)
            {
                var blob = blobs[pull % blobs.Count];
                using var response = await http.GetAsync($"/v2/{repository}/blobs/{blob.Digest}", HttpCompletionOption.ResponseHeadersRead);
                response.EnsureSuccessStatusCode();
                await using var body = await response.Content.ReadAsStreamAsync();
                long total = 0;
                int n;
                while ((n = await body.ReadAsync(local)) > 0) total += n;
                if (total != blob.Size) throw new InvalidOperationException($"pulled {total} of {blob.Size} bytes of {blob.Digest}");
            }
        })));
        return stopwatch.Elapsed;
    }

    /// <summary>Bytes moved, wall time and the server's CPU time, added up over the measured rounds of one kind.</summary>
    sealed class Tally
    {
        long bytes;
        double seconds, cpuSeconds;

        public async Task MeasureAsync(int pid, long moved, Func<Task<TimeSpan>> work)
        {
            var cpu = CpuSeconds(pid);
            seconds += (await work()).TotalSeconds;
            cpuSeconds += CpuSeconds(pid) - cpu;
            bytes += moved;
        }

        public double MegabytesPerSecond => bytes / 1048576.0 / seconds;
        public double CpuSecondsPerGigabyte => cpuSeconds / (bytes / (double)(1L << 30));
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

    internal sealed record Reference(Process Process, Uri Url, string Dir);

    internal static async Task<Reference> StartDockerRegistryAsync()
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

    /// <summary>
    /// A blob's bytes, made on each read and never held whole: its id in the first 8 bytes (so every blob is distinct),
    /// then 16 MiB of random bytes shared by all blobs, repeated from an offset that also depends on the id.
    /// </summary>
    sealed class BlobContent(long length, long id) : Stream
    {
        static readonly byte[] Pattern = MakePattern();
        static byte[] MakePattern()
        {
            var pattern = new byte[16 << 20];
            new Random(20261123).NextBytes(pattern);
            return pattern;
        }

        long position;
        readonly int shift = (int)((ulong)id % (ulong)(Pattern.Length - 1));
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            var total = 0;
            while (total < buffer.Length && position < length)
            {
                var target = buffer[total..];
                int n;
                if (position < 8)
                {
                    n = (int)Math.Min(target.Length, 8 - position);
                    BitConverter.GetBytes(id).AsSpan((int)position, n).CopyTo(target);
                }
                else
                {
                    var at = (int)((position + shift) % Pattern.Length);
                    n = (int)Math.Min(Math.Min(target.Length, Pattern.Length - at), length - position);
                    Pattern.AsSpan(at, n).CopyTo(target);
                }
                position += n;
                total += n;
            }
            return total;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
