using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace BuildGrid.Core.Hosting;

/// <summary>
/// OpenTelemetry tracing and metrics in every process: incoming REST and gRPC calls, outgoing calls (gRPC clients are
/// HttpClients, so the W3C traceparent flows gateway → service), and BuildGrid's own sources (<c>BuildGrid.*</c>: the
/// build worker continues the trace of the call that queued a run). Exported over OTLP when
/// OTEL_EXPORTER_OTLP_ENDPOINT is set; metrics are also scraped by Prometheus on <c>GET /metrics</c> of the REST listener
/// (text exposition format): the runtime (GC, heap, thread pool, exceptions), HTTP and gRPC server calls
/// (<c>http_server_request_duration_seconds</c>, gRPC calls carry their method as the route), Kestrel's connections, and
/// BuildGrid's own meters — among them <c>buildgrid_builds_queue_depth</c>, <c>buildgrid_builds_running</c>,
/// <c>buildgrid_registry_blob_bytes_total{direction="in|out"}</c> and <c>buildgrid_outbox_pending</c> /
/// <c>buildgrid_outbox_lag_seconds</c> per service database (<see cref="MetricsSampler"/>).
/// The service name is <c>OTEL_SERVICE_NAME</c> when set, else the process's application name.
/// </summary>
public static class Telemetry
{
    public const string SourcePrefix = "BuildGrid.";
    public const string ScrapePath = "/metrics";

    /// <summary>Paths polled by probes and scrapers, kept out of traces.</summary>
    internal static bool IsProbe(PathString path) =>
        path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz") || path.StartsWithSegments(ScrapePath);

    internal static void AddBuildGridTelemetry(this WebApplicationBuilder builder)
    {
        var serviceName = builder.Configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } configured ? configured : builder.Environment.ApplicationName;
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName))
            .WithTracing(tracing => tracing
                .AddSource(SourcePrefix + "*")
                .AddAspNetCoreInstrumentation(o => o.Filter = context => !IsProbe(context.Request.Path))
                .AddHttpClientInstrumentation())
            .WithMetrics(metrics => metrics
                .AddMeter(SourcePrefix + "*")
                .AddMeter("Microsoft.AspNetCore.Server.Kestrel")
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddPrometheusExporter());
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
            telemetry.UseOtlpExporter();
        builder.Services.AddSingleton<MetricsSampler>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MetricsSampler>());
    }

    /// <summary><c>GET /metrics</c> for Prometheus (HTTP/1.1: the REST listener; the gRPC listener speaks only HTTP/2).</summary>
    internal static void MapBuildGridMetrics(this WebApplication app) => app.MapPrometheusScrapingEndpoint(ScrapePath);
}
