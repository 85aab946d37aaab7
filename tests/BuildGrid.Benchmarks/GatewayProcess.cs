using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace BuildGrid.Benchmarks;

/// <summary>Standalone BuildGrid as its own process (the Release build of gateway/BuildGrid.Standalone), on free loopback ports.</summary>
public sealed class GatewayProcess : IAsyncDisposable
{
    readonly Process process;
    public Uri RestUrl { get; }
    public Uri GrpcUrl { get; }
    public string DataDir { get; }
    public TimeSpan StartTime { get; }
    public int Id => process.Id;

    GatewayProcess(Process process, Uri rest, Uri grpc, string dataDir, TimeSpan startTime) =>
        (this.process, RestUrl, GrpcUrl, DataDir, StartTime) = (process, rest, grpc, dataDir, startTime);

    public static async Task<GatewayProcess> StartAsync(IDictionary<string, string>? environment = null)
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "BuildGrid.sln"))) root = Path.GetDirectoryName(root.TrimEnd('/'))!;
        var dll = Path.Combine(root, "gateway", "BuildGrid.Standalone", "bin", "Release", "net10.0", "BuildGrid.Standalone.dll");
        if (!File.Exists(dll)) throw new FileNotFoundException("Build Release first: dotnet build -c Release", dll);
        var dataDir = Path.Combine(Path.GetTempPath(), "buildgrid-bench", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDir);
        var rest = new Uri($"http://127.0.0.1:{FreePort()}");
        var grpc = new Uri($"http://127.0.0.1:{FreePort()}");
        var start = new ProcessStartInfo("dotnet", [dll]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["BUILDGRID_REST_URL"] = rest.ToString();
        start.Environment["BUILDGRID_GRPC_URL"] = grpc.ToString();
        start.Environment["BUILDGRID_DATA_DIR"] = dataDir;
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
            start.Environment[key] = value;
        var stopwatch = Stopwatch.StartNew();
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var http = new HttpClient();
        while (true)
        {
            try
            {
                if ((await http.GetAsync(new Uri(rest, "/healthz"))).IsSuccessStatusCode) break;
            }
            catch (HttpRequestException) { }
            if (process.HasExited) throw new InvalidOperationException("gateway exited at start");
            if (stopwatch.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException("gateway did not become healthy");
            await Task.Delay(10);
        }
        return new GatewayProcess(process, rest, grpc, dataDir, stopwatch.Elapsed);
    }

    public long ResidentBytes()
    {
        foreach (var line in File.ReadLines($"/proc/{process.Id}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
        process.Dispose();
        try { Directory.Delete(DataDir, true); } catch (IOException) { }
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
