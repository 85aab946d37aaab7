using BuildGrid.Builds.Queue;
using BuildGrid.Builds.Storage;
using Microsoft.Extensions.Options;

namespace BuildGrid.Builds.Worker;

/// <summary>
/// Keeps the queue honest, in every Builds process: runs whose lease lapsed (their worker died) are re-queued or
/// failed, and queued runs that Redis lost (a restart without persistence, a crash between pop and claim) are pushed again.
/// </summary>
public sealed class Reaper(RunStore store, BuildQueue queue, IOptions<BuildsOptions> options, TimeProvider time, ILogger<Reaper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await SweepAsync(stoppingToken);
                await Task.Delay(options.Value.ReaperInterval, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Log.SweepFailed(logger, e);
                await Task.Delay(options.Value.ReaperInterval, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    public async Task SweepAsync(CancellationToken cancellationToken)
    {
        foreach (var id in await store.RecoverLapsedAsync(cancellationToken))
        {
            Log.Requeued(logger, id);
            await queue.RequeueAsync(id, cancellationToken);
        }
        // Push again what has waited a while without being taken, unless the queue plainly still holds it.
        var stale = await store.StaleQueuedAsync(time.GetUtcNow() - options.Value.Lease, cancellationToken);
        if (stale.Count > 0 && await queue.LengthAsync(cancellationToken) < stale.Count)
        {
            foreach (var id in stale)
                await queue.EnqueueAsync(id, cancellationToken);
        }
    }
}
