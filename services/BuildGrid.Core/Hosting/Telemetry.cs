using Microsoft.AspNetCore.Builder;
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
/// OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise collected for nobody, at little cost.
/// </summary>
public static class Telemetry
{
    public const string SourcePrefix = "BuildGrid.";

    internal static void AddBuildGridTelemetry(this WebApplicationBuilder builder)
    {
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(builder.Environment.ApplicationName))
            .WithTracing(tracing => tracing
                .AddSource(SourcePrefix + "*")
                .AddAspNetCoreInstrumentation(o => o.Filter = context => !context.Request.Path.StartsWithSegments("/healthz"))
                .AddHttpClientInstrumentation())
            .WithMetrics(metrics => metrics
                .AddMeter(SourcePrefix + "*")
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation());
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
            telemetry.UseOtlpExporter();
    }
}
