using System.Net;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Operations;

/// <summary>
/// What an operator sees of a BuildGrid process, each started from its build output as its own OS process:
/// <c>--help</c> lists the settings and exits 0; an invalid setting or a port in use is one line naming it and exit code
/// 2, with no stack trace; Prometheus scrapes <c>/metrics</c> (runtime, HTTP, the registry's blob bytes, the build queue,
/// the outbox) under <c>OTEL_SERVICE_NAME</c>; every request is one log line, probes none, and no Garnet banner.
/// </summary>
public sealed partial class ProcessContractTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A process that should exit at once but starts serving instead fails the test rather than hanging it.</summary>
    static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    static string Dll(string project) => Path.Combine(TestDirectories.RepositoryRoot, project is "BuildGrid.Gateway" or "BuildGrid.Standalone" ? "gateway" : "services", project,
        "bin", TestDirectories.Configuration, "net10.0", project + ".dll");

    [Theory]
    [InlineData("BuildGrid.Standalone")]
    [InlineData("BuildGrid.Gateway")]
    [InlineData("BuildGrid.Registry")]
    [InlineData("BuildGrid.Builds")]
    public async Task Help_lists_the_settings_and_exits_0(string project)
    {
        var (code, output) = (await Tools.RunAsync("dotnet", Path.GetTempPath(), Dll(project), "--help").WaitAsync(StartTimeout, Ct));
        Assert.Equal(0, code);
        Assert.StartsWith($"Usage: {project} ", output);
        foreach (var setting in new[] { "BUILDGRID_REST_URL", "BUILDGRID_GRPC_URL", "BUILDGRID_DATA_DIR", "BUILDGRID_REDIS", "OTEL_SERVICE_NAME" })
            Assert.Matches($@"(?m)^  {setting} +\S", output);
        Assert.DoesNotContain("listening", output, StringComparison.OrdinalIgnoreCase);   // it did not start
    }

    [Fact]
    public async Task An_invalid_setting_is_one_line_naming_it_and_exit_code_2()
    {
        var dataDir = TestDirectories.Create("bad-setting");
        try
        {
            foreach (var (project, argument, expected) in new[]
            {
                ("BuildGrid.Standalone", "--BUILDGRID_REST_URL=ftp://127.0.0.1:1", "BuildGrid.Standalone: BUILDGRID_REST_URL must be an http:// URL such as http://127.0.0.1:8080, not 'ftp://127.0.0.1:1'."),
                ("BuildGrid.Standalone", "--BUILDGRID_SQL_PROVIDER=oracle", "BuildGrid.Standalone: BUILDGRID_SQL_PROVIDER must be"),
                ("BuildGrid.Standalone", "--Builds:Workers=-3", "BuildGrid.Standalone: "),
                // The gateway alone hosts no service: one without an address is named, with the way out.
                ("BuildGrid.Gateway", "--BUILDGRID_PROJECTS_URL=http://127.0.0.1:1",
                    "BuildGrid.Gateway: the gateway hosts no service: set BUILDGRID_CONTAINERS_URL, BUILDGRID_BUILDS_URL, BUILDGRID_REGISTRY_URL, BUILDGRID_IDENTITY_URL (or run it beside a Dapr sidecar), or run standalone BuildGrid (gateway/BuildGrid.Standalone)."),
            })
            {
                var (code, output) = (await Tools.RunAsync("dotnet", dataDir, Dll(project), $"--BUILDGRID_DATA_DIR={dataDir}",
                    "--BUILDGRID_GRPC_URL=http://127.0.0.1:0", argument).WaitAsync(StartTimeout, Ct));
                Assert.True(code == 2, $"{argument}: exit {code}\n{output}");
                var last = output.TrimEnd().Split('\n')[^1];
                Assert.StartsWith(expected, last);
                Assert.DoesNotMatch(StackFrame(), output);
                Assert.DoesNotContain("Unhandled exception", output);
            }
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }

    [Fact]
    public async Task A_port_in_use_is_one_line_naming_the_address_and_exit_code_2()
    {
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var dataDir = TestDirectories.Create("port-in-use");
        try
        {
            var (code, output) = (await Tools.RunAsync("dotnet", dataDir, Dll("BuildGrid.Registry"), $"--BUILDGRID_DATA_DIR={dataDir}",
                $"--BUILDGRID_REST_URL=http://127.0.0.1:{port}", "--BUILDGRID_GRPC_URL=http://127.0.0.1:0").WaitAsync(StartTimeout, Ct));
            Assert.True(code == 2, $"exit {code}\n{output}");
            Assert.Equal($"BuildGrid.Registry: Failed to bind to address http://127.0.0.1:{port}: address already in use.", output.TrimEnd().Split('\n')[^1]);
            Assert.DoesNotMatch(StackFrame(), output);
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }

    [Fact]
    public async Task Prometheus_scrapes_runtime_http_registry_queue_and_outbox_metrics_and_each_request_is_one_log_line()
    {
        var dataDir = TestDirectories.Create("metrics");
        try
        {
            await using var gateway = await ServiceProcess.StartAsync("BuildGrid.Standalone", new Dictionary<string, string>
            {
                ["BUILDGRID_DATA_DIR"] = dataDir,
                ["OTEL_SERVICE_NAME"] = "buildgrid-metrics-test",
            });
            using var http = new HttpClient { BaseAddress = gateway.RestUrl };
            // A 300 KiB blob pushed (monolithic) and pulled twice, and a dialect call.
            var blob = RandomNumberGenerator.GetBytes(300 * 1024);
            var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(blob));
            using (var pushed = await http.PostAsync($"/v2/ops/metrics/blobs/uploads/?digest={digest}", new ByteArrayContent(blob), Ct))
                Assert.Equal(HttpStatusCode.Created, pushed.StatusCode);
            for (var i = 0; i < 2; i++)
                Assert.Equal(blob, await http.GetByteArrayAsync($"/v2/ops/metrics/blobs/{digest}", Ct));
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/project/list", Ct)).StatusCode);
            for (var i = 0; i < 3; i++)
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz", Ct)).StatusCode);

            // The sampled gauges appear within one sampling interval (5 s).
            var text = await Eventually.Async(() => http.GetStringAsync("/metrics", Ct).GetAwaiter().GetResult(),
                t => t.Contains("buildgrid_outbox_pending{", StringComparison.Ordinal) && t.Contains("buildgrid_builds_queue_depth", StringComparison.Ordinal), 20_000);
            double Value(string series) =>
                Regex.Matches(text, $@"(?m)^{Regex.Escape(series)}(\{{[^}}]*\}})? (?<v>\S+)").Select(m => double.Parse(m.Groups["v"].Value, System.Globalization.CultureInfo.InvariantCulture)).Sum();
            double Labelled(string series, string label) =>
                Regex.Matches(text, $@"(?m)^{Regex.Escape(series)}\{{[^}}]*{Regex.Escape(label)}[^}}]*\}} (?<v>\S+)").Select(m => double.Parse(m.Groups["v"].Value, System.Globalization.CultureInfo.InvariantCulture)).Sum();
            Assert.Contains("service_name=\"buildgrid-metrics-test\"", text);
            Assert.Equal(blob.Length, Labelled("buildgrid_registry_blob_bytes_total", "direction=\"in\""));
            Assert.Equal(2 * blob.Length, Labelled("buildgrid_registry_blob_bytes_total", "direction=\"out\""));
            Assert.True(Labelled("http_server_request_duration_seconds_count", "http_route=\"/api/project/list\"") >= 1, text);
            Assert.True(Value("dotnet_gc_collections_total") >= 0 && text.Contains("dotnet_gc_collections_total", StringComparison.Ordinal));
            Assert.Equal(0, Value("buildgrid_builds_queue_depth"));
            Assert.Equal(0, Value("buildgrid_builds_running"));
            foreach (var database in new[] { "projects", "containers", "builds", "registry", "identity" })
                Assert.Contains($"database=\"{database}\"", text);
            Assert.Contains("kestrel_active_connections", text);

            // One line per request (a blob GET is one line, whatever its size); none for probes; no Garnet banner.
            var output = gateway.Output;
            var lines = output.Split('\n').Where(l => l.Contains("BuildGrid.Requests", StringComparison.Ordinal)).ToList();
            Assert.Equal(2, lines.Count(l => l.Contains($"GET /v2/ops/metrics/blobs/{digest} HTTP/1.1 → 200", StringComparison.Ordinal)));
            Assert.Single(lines, l => l.Contains("GET /api/project/list HTTP/1.1 → 200", StringComparison.Ordinal));
            Assert.Single(lines, l => l.Contains("POST /v2/ops/metrics/blobs/uploads/ HTTP/1.1 → 201", StringComparison.Ordinal));
            Assert.DoesNotContain(lines, l => l.Contains("GET /healthz ", StringComparison.Ordinal) || l.Contains("GET /metrics ", StringComparison.Ordinal));
            Assert.DoesNotContain("Request starting", output);
            Assert.DoesNotContain("Executing endpoint", output);
            Assert.DoesNotContain("aka.ms/GetGarnet", output);
            Assert.DoesNotContain(digest.Replace("sha256:", "?digest=", StringComparison.Ordinal), output);   // query strings are not logged
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }

    [GeneratedRegex(@"(?m)^\s+at [A-Za-z_.]+\(")]
    private static partial Regex StackFrame();
}
