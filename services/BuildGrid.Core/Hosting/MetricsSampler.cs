using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using BuildGrid.Core.Storage;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BuildGrid.Core.Hosting;

/// <summary>
/// Gauges whose values need a query (a Redis list length, a row count): sampled every <see cref="Interval"/> in the
/// background, so a scrape of <c>/metrics</c> never waits on Redis or a database, and an outage shows as a stale value
/// plus <c>buildgrid_metrics_sample_failures_total</c> instead of a failed scrape. Every service database reports its
/// outbox: <c>buildgrid_outbox_pending{database}</c> (events not yet published) and <c>buildgrid_outbox_lag_seconds</c>
/// (the age of the oldest of them; 0 when none waits). A service adds its own with <see cref="Gauge"/>.
/// </summary>
public sealed class MetricsSampler : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);
    readonly Meter meter;
    readonly Counter<long> failures;

    readonly List<Func<CancellationToken, Task>> samples = [];
    readonly ConcurrentDictionary<string, double> values = new(StringComparer.Ordinal);
    readonly TimeProvider time;
    readonly ILogger<MetricsSampler> logger;

    public MetricsSampler(IServiceProvider services, IMeterFactory meters, TimeProvider time, ILogger<MetricsSampler> logger)
    {
        this.time = time;
        this.logger = logger;
        // From the host's meter factory (disposed with it): several hosts in one process (tests) each report their own.
        meter = meters.Create(Telemetry.SourcePrefix + "Metrics");
        failures = meter.CreateCounter<long>("buildgrid.metrics.sample_failures", description: "Samples of a gauge that failed (its value is then the last one read)");
        var databases = services.GetService<IEnumerable<ServiceDatabaseName>>()?.Select(d => d.Name).Distinct(StringComparer.Ordinal).ToList() ?? [];
        if (databases.Count == 0)
            return;
        var pending = new ConcurrentDictionary<string, (long Count, double Lag)>(StringComparer.Ordinal);
        meter.CreateObservableGauge("buildgrid.outbox.pending", () => pending.Select(p => new Measurement<long>(p.Value.Count,
            new KeyValuePair<string, object?>("database", p.Key))), description: "Integration events written but not yet published, per service database");
        meter.CreateObservableGauge("buildgrid.outbox.lag", () => pending.Select(p => new Measurement<double>(p.Value.Lag,
            new KeyValuePair<string, object?>("database", p.Key))), unit: "s", description: "Age of the oldest unpublished event, per service database");
        foreach (var name in databases)
        {
            var database = services.GetRequiredKeyedService<ServiceDatabase>(name);
            samples.Add(async cancellationToken =>
            {
                await using var connection = await database.OpenAsync(cancellationToken);
                var row = await connection.QuerySingleAsync<(long Count, long? Oldest)>(new CommandDefinition(
                    "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE sent_at IS NULL", cancellationToken: cancellationToken));
                var lag = row.Oldest is { } oldest ? Math.Max(0, (time.GetUtcNow().ToUnixTimeMilliseconds() - oldest) / 1000.0) : 0;
                pending[name] = (row.Count, lag);
            });
        }
    }

    /// <summary>A gauge sampled in the background by <paramref name="read"/> (called every <see cref="Interval"/>).</summary>
    public void Gauge(string name, string? unit, string description, Func<CancellationToken, Task<double>> read)
    {
        meter.CreateObservableGauge(name, () => values.TryGetValue(name, out var value) ? [new Measurement<double>(value)] : Array.Empty<Measurement<double>>(),
            unit, description);
        lock (samples)
            samples.Add(async cancellationToken => values[name] = await read(cancellationToken));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        while (!stoppingToken.IsCancellationRequested)
        {
            Func<CancellationToken, Task>[] due;
            lock (samples)
                due = [.. samples];
            foreach (var sample in due)
            {
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                    timeout.CancelAfter(Interval);
                    await sample(timeout.Token);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    failures.Add(1);
                    Log.MetricSampleFailed(logger, e.Message);
                }
            }
            try { await timer.WaitForNextTickAsync(stoppingToken); }
            catch (OperationCanceledException) { return; }
        }
    }
}

/// <summary>The name of a service database registered with <see cref="StorageExtensions.AddServiceDatabase"/>.</summary>
public sealed record ServiceDatabaseName(string Name);
