using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace BuildGrid.Tests.Infrastructure;

/// <summary>
/// A BuildGrid service (or the gateway) started as its own OS process from its build output (<c>dotnet BuildGrid.X.dll</c>), as the
/// distributed layout runs it. Its addresses are read from the "BuildGrid listening" line it logs at start.
/// </summary>
public sealed partial class ServiceProcess : IAsyncDisposable
{
    readonly Process process;
    readonly List<string> output = [];

    ServiceProcess(Process process) => this.process = process;

    public Uri RestUrl { get; private set; } = null!;
    public Uri GrpcUrl { get; private set; } = null!;
    public int Id => process.Id;
    public string Output { get { lock (output) return string.Join('\n', output); } }

    [GeneratedRegex(@"BuildGrid listening: rest=(?<rest>\S+) grpc=(?<grpc>\S+)")]
    private static partial Regex Listening();

    /// <param name="workingDirectory">Where the process runs (default: its build output folder).</param>
    /// <param name="launcher">A command that runs <c>dotnet &lt;dll&gt;</c> for it (e.g. bwrap with a changed view of the machine).</param>
    public static async Task<ServiceProcess> StartAsync(string project, IDictionary<string, string> environment, string? workingDirectory = null,
        IReadOnlyList<string>? launcher = null)
    {
        var dll = Path.Combine(TestDirectories.RepositoryRoot, project is "BuildGrid.Gateway" or "BuildGrid.Standalone" ? "gateway" : "services", project, "bin", TestDirectories.Configuration, "net10.0", project + ".dll");
        if (!File.Exists(dll))
            throw new FileNotFoundException($"{dll} is missing: build the solution first (tests/run does).");
        var start = new ProcessStartInfo(launcher is { Count: > 0 } ? launcher[0] : "dotnet", launcher is { Count: > 0 } ? [.. launcher.Skip(1), "dotnet", dll] : [dll])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetDirectoryName(dll)!,
        };
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("DAPR_", StringComparison.Ordinal) || k.StartsWith("BUILDGRID_", StringComparison.Ordinal)).ToList())
            start.Environment.Remove(key);
        start.Environment["BUILDGRID_REST_URL"] = "http://127.0.0.1:0";
        start.Environment["BUILDGRID_GRPC_URL"] = "http://127.0.0.1:0";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        // BUILDGRID_TEST_SQL=postgres: the processes of one data directory share one database (unless the test chose).
        if (environment.TryGetValue("BUILDGRID_DATA_DIR", out var dataDir) && !environment.ContainsKey("BUILDGRID_SQL_PROVIDER"))
            foreach (var (key, value) in await PostgresServer.SettingsFor(dataDir))
                start.Environment[key] = value;
        foreach (var (key, value) in environment)
            start.Environment[key] = value;

        var service = new ServiceProcess(Process.Start(start)!);
        var ready = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(object _, DataReceivedEventArgs e)
        {
            if (e.Data is null) return;
            lock (service.output) service.output.Add(e.Data);
            if (Listening().Match(e.Data) is { Success: true } match)
                ready.TrySetResult(match);
        }
        service.process.OutputDataReceived += OnLine;
        service.process.ErrorDataReceived += OnLine;
        service.process.BeginOutputReadLine();
        service.process.BeginErrorReadLine();
        service.process.EnableRaisingEvents = true;
        service.process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"{project} exited before listening:\n{service.Output}"));
        try
        {
            var match = await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
            service.RestUrl = new Uri(match.Groups["rest"].Value);
            service.GrpcUrl = new Uri(match.Groups["grpc"].Value);
        }
        catch
        {
            await service.DisposeAsync();
            throw;
        }
        return service;
    }

    /// <summary>
    /// SIGTERM, as Kubernetes and systemd stop a process: its shutdown code runs. Waits up to <paramref name="timeout"/>
    /// for it to exit and answers how long that took (a process still running then is killed, and the test should fail).
    /// </summary>
    public async Task<TimeSpan> TerminateAsync(TimeSpan timeout)
    {
        var started = Stopwatch.StartNew();
        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            await kill.WaitForExitAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            await KillAsync();
            throw new TimeoutException($"the process did not exit within {timeout} of SIGTERM:\n{Output}");
        }
        return started.Elapsed;
    }

    public int ExitCode => process.ExitCode;

    /// <summary>kill -9 of the process (and anything it started): no shutdown code runs.</summary>
    public async Task KillAsync()
    {
        if (!process.HasExited)
            process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        process.Dispose();
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
