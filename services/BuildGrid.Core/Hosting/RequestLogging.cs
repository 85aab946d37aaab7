using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BuildGrid.Core.Hosting;

/// <summary>
/// One log line per HTTP request or gRPC call at Information (category <c>BuildGrid.Requests</c>):
/// <c>GET /api/project/list HTTP/1.1 → 200 in 3.1 ms</c>, with <c>grpc-status</c> for gRPC calls — instead of the eight
/// lines ASP.NET Core's hosting, routing and endpoint categories write at Information (those default to Warning here).
/// ASP.NET Core's own HTTP logging was tried first: with <c>CombineLogs</c> it writes one record, but over seven lines
/// of text on the console. Probes and scrapes (<c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>) are not logged; neither
/// are query strings, headers or bodies (they carry credentials and tokens).
/// Defaults only: <c>Logging__LogLevel__Microsoft.AspNetCore=Information</c> (or any <c>Logging</c> setting) overrides them.
/// </summary>
public static partial class RequestLogging
{
    public const string Category = "BuildGrid.Requests";

    internal static void AddRequestLogging(this WebApplicationBuilder builder) =>
        // Inserted first, so every other configuration source (appsettings, environment, command line) overrides it.
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Default"] = "Information",
                ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
                // The host logs a failed start with its stack trace at Error ("Hosting failed to start"); BuildGridProcess
                // prints the reason on one line instead. A background service that stops the host still logs at Critical.
                ["Logging:LogLevel:Microsoft.Extensions.Hosting.Internal.Host"] = "Critical",
            },
        });

    internal static void UseRequestLogging(this WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(Category);
        app.Use(async (context, next) =>
        {
            if (!logger.IsEnabled(LogLevel.Information) || Telemetry.IsProbe(context.Request.Path))
            {
                await next(context);
                return;
            }
            var started = Stopwatch.GetTimestamp();
            try
            {
                await next(context);
            }
            finally
            {
                var request = context.Request;
                var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                var status = context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted ? 499 : context.Response.StatusCode;
                if (context.Response.Headers.TryGetValue("grpc-status", out var grpc) || context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseTrailersFeature>()?.Trailers is { } trailers && trailers.TryGetValue("grpc-status", out grpc))
                    Logged(logger, request.Method, request.PathBase + request.Path, request.Protocol, status, $" grpc-status {grpc}", elapsed);
                else
                    Logged(logger, request.Method, request.PathBase + request.Path, request.Protocol, status, "", elapsed);
            }
        });
    }

    [LoggerMessage(1, LogLevel.Information, "{Method} {Path} {Protocol} → {StatusCode}{Grpc} in {ElapsedMs:0.0} ms")]
    static partial void Logged(ILogger logger, string method, string path, string protocol, int statusCode, string grpc, double elapsedMs);
}
