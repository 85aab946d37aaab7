using BuildGrid.Builds.Queue;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Hosting;
using BuildGrid.Core.Storage;
using Dapper;

namespace BuildGrid.Builds;

/// <summary>
/// The build queue on <c>/metrics</c>, sampled by <see cref="MetricsSampler"/>: <c>buildgrid_builds_queue_depth</c> (run
/// ids waiting in the Redis queue) and <c>buildgrid_builds_running</c> (runs a worker holds, installation-wide: every
/// Builds replica reports the same figure, so aggregate with <c>max</c>). Attempts that ended and their durations are
/// <c>buildgrid_builds_finished_total</c> and <c>buildgrid_builds_duration_seconds</c> (BuildWorker).
/// </summary>
sealed class BuildsMetrics(MetricsSampler sampler, BuildQueue queue, [FromKeyedServices(BuildsExtensions.AppId)] ServiceDatabase database) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        sampler.Gauge("buildgrid.builds.queue.depth", null, "Build runs waiting in the queue", async ct => await queue.LengthAsync(ct));
        sampler.Gauge("buildgrid.builds.running", null, "Build runs a worker is running (installation-wide)", async ct =>
        {
            await using var connection = await database.OpenAsync(ct);
            return await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT COUNT(*) FROM runs WHERE state = @running", new { running = (int)RunState.Running }, cancellationToken: ct));
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
