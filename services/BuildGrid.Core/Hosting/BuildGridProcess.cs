using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace BuildGrid.Core.Hosting;

/// <summary>
/// The <c>Main</c> of every BuildGrid process. <c>--help</c> prints the settings and exits 0. A start that fails for a
/// reason the operator can fix — an invalid setting, a port in use, a data directory it may not write, a database or
/// Redis it cannot reach at start — prints one line naming it (<c>BuildGrid.Gateway: BUILDGRID_REST_URL must be an
/// http:// URL …</c>) and exits <see cref="StartFailed"/>, without a stack trace. Anything else is a bug and keeps its
/// stack trace.
/// </summary>
public static class BuildGridProcess
{
    public const int StartFailed = 2;

    /// <summary>What every process reads (README: Settings); each is an environment variable or <c>--NAME=value</c>.</summary>
    static readonly (string Name, string Default, string Meaning)[] Settings =
    [
        ("BUILDGRID_REST_URL", BuildGridSettings.DefaultRestUrl, "REST listener (HTTP/1.1): the dialects, /v2/, /healthz, /readyz, /metrics"),
        ("BUILDGRID_GRPC_URL", BuildGridSettings.DefaultGrpcUrl, "gRPC listener (h2c)"),
        ("BUILDGRID_DATA_DIR", "./data", "data directory (databases, blobs, keys), created 0700"),
        ("BUILDGRID_REDIS", "embedded Garnet", "Redis for queues and events (a StackExchange.Redis connection string)"),
        ("BUILDGRID_GARNET_PORT", "a free loopback port", "port of the embedded Garnet (standalone gateway)"),
        ("BUILDGRID_SQL_PROVIDER", "sqlite", "SQL provider"),
        ("BUILDGRID_SQL", "{data}/<service>.db", "SQL connection string (providers other than sqlite)"),
        ("BUILDGRID_SERVICE_KEY", "generated under the data dir (loopback-only installs)", "key shared by the processes of one installation"),
        ("BUILDGRID_ADMIN_PASSWORD", "unset: protected mode on loopback", "password of the bootstrap admin"),
        ("BUILDGRID_<APPID>_URL", "unset: hosted in process", "where a service is called (PROJECTS, CONTAINERS, BUILDS, REGISTRY, IDENTITY)"),
        ("BUILDGRID_REGISTRY_REST_URL", "unset", "where the gateway forwards /v2/ when the Registry runs elsewhere"),
        ("BUILDGRID_MIN_RESPONSE_RATE", BuildGridSettings.DefaultMinResponseBytesPerSecond.ToString(System.Globalization.CultureInfo.InvariantCulture), "slowest response reading a client may keep to (bytes/s; 0: no floor)"),
        (Storage.DiskSpace.MinFreeSetting, Storage.DiskSpace.DefaultMinFreeMb.ToString(System.Globalization.CultureInfo.InvariantCulture), "free megabytes below which creates are refused (insufficient storage); deletes still work"),
        (Health.DiskReserveSetting, Health.DefaultDiskReserveMb.ToString(System.Globalization.CultureInfo.InvariantCulture), "free megabytes below which /readyz reports the disk"),
        ("DAPR_GRPC_PORT, DAPR_HTTP_PORT", "unset: no sidecar", "set by a Dapr sidecar"),
        ("APP_API_TOKEN", "unset", "the token a Dapr sidecar must present (dapr-api-token)"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "unset: not exported", "OpenTelemetry export of traces and metrics"),
        ("OTEL_SERVICE_NAME", "the process's name", "service.name of its telemetry"),
        ("Logging__LogLevel__<category>", "Information; Microsoft.AspNetCore: Warning", "log levels (one line per HTTP request at Information)"),
        ("Builds__*, Registry__*, Gateway__*", "", "service settings: see README"),
    ];

    /// <summary>
    /// Runs one service as its own process: BuildGrid's defaults, then <paramref name="add"/> registers the service and
    /// <paramref name="map"/> maps its endpoints.
    /// </summary>
    public static Task<int> RunServiceAsync(string[] args, Action<WebApplicationBuilder> add, Action<WebApplication> map) =>
        RunAsync(args, arguments =>
        {
            var builder = BuildGridDefaults.CreateBuilder(arguments);
            builder.AddBuildGridDefaults();
            add(builder);
            var app = builder.Build();
            app.MapBuildGridDefaults();
            map(app);
            return app;
        });

    /// <summary>Builds the application with <paramref name="create"/> and runs it until it is stopped.</summary>
    public static async Task<int> RunAsync(string[] args, Func<string[], WebApplication> create)
    {
        var name = System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name ?? "BuildGrid";
        if (args.Any(a => a is "--help" or "-h" or "-?"))
        {
            await Console.Out.WriteAsync(Help(name));
            return 0;
        }
        WebApplication app;
        try
        {
            app = create(args);
            await app.StartAsync();
        }
        catch (Exception e) when (Reason(e) is { } reason)
        {
            await Console.Error.WriteLineAsync($"{name}: {reason}");
            return StartFailed;
        }
        await using (app)
            await app.WaitForShutdownAsync();
        return 0;
    }

    /// <summary>The one-line reason of a failed start the operator can act on; null for a bug.</summary>
    public static string? Reason(Exception e) => e switch
    {
        AggregateException { InnerExceptions.Count: 1 } aggregate => Reason(aggregate.InnerException!),
        IOException { InnerException: AddressInUseException } inUse => OneLine(inUse.Message),
        AddressInUseException inUse => OneLine(inUse.Message),
        SocketException socket => OneLine(socket.Message),
        UnauthorizedAccessException denied => OneLine(denied.Message),
        OptionsValidationException invalid => OneLine(string.Join("; ", invalid.Failures)),
        StartupException startup => OneLine(startup.Message),
        _ => null,
    };

    static string OneLine(string text) => string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    static string Help(string name)
    {
        var text = new StringBuilder();
        text.Append("Usage: ").Append(name).AppendLine(" [--NAME=value ...]").AppendLine()
            .AppendLine("Settings (environment variables, or --NAME=value; section keys as Section__Key or --Section:Key=value):");
        var width = Settings.Max(s => s.Name.Length);
        foreach (var (setting, fallback, meaning) in Settings)
        {
            text.Append("  ").Append(setting.PadRight(width)).Append("  ").Append(meaning);
            if (fallback.Length > 0)
                text.Append(" [default: ").Append(fallback).Append(']');
            text.AppendLine();
        }
        text.AppendLine().AppendLine("Exit codes: 0 stopped; 2 could not start (the reason is printed on one line).");
        return text.ToString();
    }
}

/// <summary>
/// A start that cannot go on for a reason the operator fixes (a setting, a missing tool, a database newer than the code),
/// worded for them: <see cref="BuildGridProcess"/> prints its message as the one line of a failed start.
/// </summary>
public sealed class StartupException(string message) : InvalidOperationException(message);
