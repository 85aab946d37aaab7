using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using BuildGrid.Builds.Queue;
using BuildGrid.Builds.Storage;
using BuildGrid.Builds.V1;
using Microsoft.Extensions.Options;

namespace BuildGrid.Builds.Worker;

/// <summary>
/// Runs builds: <see cref="BuildsOptions.Workers"/> slots take run ids from the queue, claim them in SQL, renew the lease
/// while they execute, and record the outcome. A cancel request (pub/sub, or the flag seen at a renewal) kills the run.
/// On shutdown (SIGTERM) the slots take nothing new; running builds get <see cref="BuildsOptions.ShutdownGrace"/> to
/// finish, then their process trees are killed and they are queued again at once for their next attempt.
/// </summary>
public sealed class BuildWorker(BuildQueue queue, RunStore store, IRunExecutor executor, IOptions<BuildsOptions> options,
    TimeProvider time, ILogger<BuildWorker> logger) : BackgroundService
{
    /// <summary>Cancelled <see cref="BuildsOptions.ShutdownGrace"/> after shutdown began: running builds are killed then.</summary>
    readonly CancellationTokenSource shutdownKill = new();

    static readonly ActivitySource Source = new("BuildGrid.Builds");
    static readonly Meter Meter = new("BuildGrid.Builds");
    static readonly Counter<long> Finished = Meter.CreateCounter<long>("buildgrid.builds.finished", description: "Build attempts that ended, by status");
    static readonly Histogram<double> Duration = Meter.CreateHistogram<double>("buildgrid.builds.duration", "s", "Time from start to end of a build attempt");

    readonly SemaphoreSlim wake = new(0, int.MaxValue);
    readonly ConcurrentDictionary<string, CancellationTokenSource> running = new();

    /// <summary>This process's worker name: host and process id, unique among live workers.</summary>
    public string Name { get; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..6]}";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var slots = options.Value.Workers;
        if (slots == 0)
            return;
        await using var graceOnStop = stoppingToken.Register(() =>
        {
            if (!running.IsEmpty)
                Log.ShuttingDown(logger, Name, running.Count, options.Value.ShutdownGrace);
            shutdownKill.CancelAfter(options.Value.ShutdownGrace);
        });
        await SubscribeAsync(stoppingToken);
        await Task.WhenAll(Enumerable.Range(0, slots).Select(slot => Task.Run(() => SlotAsync(slot, stoppingToken), stoppingToken)));
    }

    async Task SubscribeAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await queue.OnWakeAsync(() => wake.Release(), stoppingToken);
                await queue.OnCancelAsync(id => { if (running.TryGetValue(id, out var cts)) cts.Cancel(); }, stoppingToken);
                return;
            }
            catch (StackExchange.Redis.RedisException e)
            {
                Log.RedisUnavailable(logger, e);
                await Task.Delay(1000, stoppingToken);
            }
        }
    }

    async Task SlotAsync(int slot, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var id = await queue.DequeueAsync(stoppingToken);
                if (id is null)
                {
                    await wake.WaitAsync(TimeSpan.FromSeconds(1), stoppingToken);
                    continue;
                }
                if (await store.ClaimAsync(id, Name, options.Value.Lease, stoppingToken) is { } claimed)
                    await RunAsync(claimed.Run, claimed.Spec, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Log.SlotFailed(logger, slot, e);
                await Task.Delay(1000, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    async Task RunAsync(Run run, RunSpec spec, CancellationToken stoppingToken)
    {
        using var cancel = new CancellationTokenSource();
        using var lost = new CancellationTokenSource();
        using var done = new CancellationTokenSource();
        using var timeout = new CancellationTokenSource(Domain.RunRules.Timeout(spec));
        running[run.Id] = cancel;
        var renewal = Task.Run(() => RenewAsync(run, cancel, lost, done.Token), CancellationToken.None);
        // One trace per build: the span of this attempt continues the trace of the call that queued the run.
        ActivityContext.TryParse(run.TraceParent, null, out var parent);
        using var activity = Source.StartActivity("build.run", ActivityKind.Consumer, parent,
            [new("buildgrid.run.id", run.Id), new("buildgrid.run.attempt", run.Attempt), new("buildgrid.worker", Name)]);
        Log.RunStarted(logger, run.Id, run.Attempt, Name);
        try
        {
            await using var log = await RunLog.OpenAsync(store, queue, time, run.Id,
                spec.Secrets.Values.Concat(spec.Repos.Select(r => r.Password)), options.Value.MaxLogLines, stoppingToken);
            if (run.Attempt > 1)
                log.Write($"[buildgrid] attempt {run.Attempt} of {run.MaxAttempts} on {Name}");
            // A lost lease stops the run without recording an end: another worker owns it now. A host shutting down
            // waits out the grace, then stops the run and queues it again (below).
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel.Token, lost.Token, shutdownKill.Token);
            var outcome = await executor.ExecuteAsync(run, spec, log, stop.Token, timeout.Token);
            if (outcome.State == RunState.Cancelled && !cancel.IsCancellationRequested)
            {
                if (shutdownKill.IsCancellationRequested && !lost.IsCancellationRequested)
                    await RequeueAtShutdownAsync(run, log);
                await log.FlushAsync();
                return;
            }
            await log.FlushAsync();
            var status = Domain.RunStates.Name(outcome.State);
            activity?.SetTag("buildgrid.run.status", status);
            if (outcome.State != RunState.Succeeded)
                activity?.SetStatus(ActivityStatusCode.Error, outcome.FailureReason);
            if (await store.FinishAsync(run, Name, outcome, CancellationToken.None))
            {
                Log.RunFinished(logger, run.Id, status);
                Finished.Add(1, new KeyValuePair<string, object?>("status", status));
                Duration.Record((time.GetUtcNow() - run.StartTime.ToDateTimeOffset()).TotalSeconds, new KeyValuePair<string, object?>("status", status));
            }
            else
                Log.ResultDropped(logger, run.Id, run.Attempt);
        }
        finally
        {
            running.TryRemove(run.Id, out _);
            await done.CancelAsync();
            await renewal;
        }
    }

    /// <summary>
    /// A run this worker stopped because it shuts down: queued again in SQL at once (or failed when its attempts are
    /// spent), then pushed to the front of the Redis queue; if Redis is gone already, the reaper pushes it.
    /// </summary>
    async Task RequeueAtShutdownAsync(Run run, RunLog log)
    {
        var grace = Domain.RunRules.Describe(options.Value.ShutdownGrace);
        var retry = run.Attempt < run.MaxAttempts;
        log.Write(retry
            ? $"[buildgrid] worker {Name} is shutting down: the run was stopped after a grace of {grace} and is queued again for attempt {run.Attempt + 1} of {run.MaxAttempts}"
            : $"[buildgrid] worker {Name} is shutting down: the run was stopped after a grace of {grace}; attempt {run.Attempt} of {run.MaxAttempts} was its last");
        if (!await store.ReleaseAtShutdownAsync(run, Name, $"worker {Name} shut down during attempt {run.Attempt} of {run.MaxAttempts}", CancellationToken.None))
            return;
        Log.RequeuedAtShutdown(logger, run.Id, run.Attempt);
        if (!retry)
            return;
        try
        {
            await queue.RequeueAsync(run.Id, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException or ObjectDisposedException)
        {
            Log.EnqueueDeferred(logger, run.Id, e);
        }
    }

    public override void Dispose()
    {
        shutdownKill.Dispose();
        base.Dispose();
    }

    /// <summary>Renews the lease every third of it; cancels the run when asked, and stops it when ownership is lost.</summary>
    async Task RenewAsync(Run run, CancellationTokenSource cancel, CancellationTokenSource lost, CancellationToken done)
    {
        var every = options.Value.Lease / 3;
        while (!done.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(every, done);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                var (owned, cancelRequested) = await store.RenewAsync(run.Id, Name, run.Attempt, options.Value.Lease, CancellationToken.None);
                if (!owned)
                {
                    await lost.CancelAsync();
                    return;
                }
                if (cancelRequested)
                    await cancel.CancelAsync();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Log.RenewFailed(logger, run.Id, e);
            }
        }
    }
}
