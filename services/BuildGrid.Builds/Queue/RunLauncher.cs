using BuildGrid.Builds.Storage;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Identity;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace BuildGrid.Builds.Queue;

/// <summary>
/// The one way a run starts, whatever asked for it (an explicit spec, an image-market project, a build definition):
/// the run is stored in SQL first (with its build.queued event), then pushed to the Redis queue. If Redis cannot take
/// it now, the reaper pushes it later: a stored run is never lost.
/// </summary>
public sealed class RunLauncher(RunStore store, BuildQueue queue, IOptions<BuildsOptions> options, TimeProvider time, ILogger<RunLauncher> logger)
{
    public int DefaultTimeoutMinutes => options.Value.DefaultTimeoutMinutes;

    /// <summary>
    /// A new queued run in <paramref name="namespace"/>. Its operator is the authenticated caller; the body's operator
    /// counts only for the protected-mode caller (<see cref="Access.Operator"/>), and is validated either way. The spec
    /// records the caller as <see cref="RunSpec.QueuedBy"/> (replacing whatever the request put there): the worker pulls
    /// base images with that principal's rights.
    /// </summary>
    public Run NewRun(string kind, string requestedOperator, ServerCallContext context, RunSpec spec, string @namespace)
    {
        spec.QueuedBy = Domain.RunPrincipals.From(Access.PrincipalOf(context));
        return NewRun(kind, requestedOperator, context, @namespace, spec);
    }

    Run NewRun(string kind, string requestedOperator, ServerCallContext context, string @namespace, RunSpec spec) => new()
    {
        Id = Guid.CreateVersion7().ToString(),
        Kind = kind,
        State = RunState.Queued,
        Operator = Domain.RunRules.Operator(Access.Operator(context, Domain.RunRules.Operator(requestedOperator, null)), null),
        Namespace = @namespace,
        QueueTime = Timestamp.FromDateTimeOffset(time.GetUtcNow()),
        MaxAttempts = options.Value.MaxAttempts,
        TimeoutMinutes = spec.TimeoutMinutes,
    };

    public async Task<Run> QueueAsync(Run run, RunSpec spec, CancellationToken cancellationToken)
    {
        await store.InsertAsync(run, spec, cancellationToken);
        // Read back (with its queue position) before a worker can see it: once it is in Redis a worker may start it at
        // once, and the caller would be answered Running for the run it just queued.
        var queued = await store.GetAsync(run.Id, cancellationToken) ?? run;
        try
        {
            await queue.EnqueueAsync(run.Id, cancellationToken);
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
        {
            Log.EnqueueDeferred(logger, run.Id, e);
        }
        return queued;
    }
}
