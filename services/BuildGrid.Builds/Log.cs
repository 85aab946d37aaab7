namespace BuildGrid.Builds;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Run {RunId} attempt {Attempt} started on {Worker}")]
    public static partial void RunStarted(ILogger logger, string runId, int attempt, string worker);

    [LoggerMessage(2, LogLevel.Information, "Run {RunId} ended {State}")]
    public static partial void RunFinished(ILogger logger, string runId, string state);

    [LoggerMessage(3, LogLevel.Warning, "Run {RunId} attempt {Attempt}: another worker owns it now; this result is dropped")]
    public static partial void ResultDropped(ILogger logger, string runId, int attempt);

    [LoggerMessage(4, LogLevel.Warning, "Renewing the lease of run {RunId} failed; retrying")]
    public static partial void RenewFailed(ILogger logger, string runId, Exception exception);

    [LoggerMessage(5, LogLevel.Warning, "Worker slot {Slot} failed; continuing")]
    public static partial void SlotFailed(ILogger logger, int slot, Exception exception);

    [LoggerMessage(6, LogLevel.Warning, "Redis is unavailable; retrying")]
    public static partial void RedisUnavailable(ILogger logger, Exception exception);

    [LoggerMessage(7, LogLevel.Warning, "Queue sweep failed; retrying")]
    public static partial void SweepFailed(ILogger logger, Exception exception);

    [LoggerMessage(8, LogLevel.Information, "Run {RunId}: its worker stopped responding; queued again")]
    public static partial void Requeued(ILogger logger, string runId);

    [LoggerMessage(9, LogLevel.Warning, "Run {RunId} is stored but could not be pushed to Redis now; the reaper will push it")]
    public static partial void EnqueueDeferred(ILogger logger, string runId, Exception exception);

    [LoggerMessage(10, LogLevel.Information, "Worker {Worker} is shutting down: {Count} running build(s) get {Grace} to finish, then are queued again")]
    public static partial void ShuttingDown(ILogger logger, string worker, int count, TimeSpan grace);

    [LoggerMessage(11, LogLevel.Information, "Run {RunId} attempt {Attempt} was stopped by the worker's shutdown; queued again")]
    public static partial void RequeuedAtShutdown(ILogger logger, string runId, int attempt);

    [LoggerMessage(12, LogLevel.Warning, "Builds:Sandbox=none: build scripts run UNSANDBOXED as this process's user and can read and change BuildGrid's data. Development only.")]
    public static partial void Unsandboxed(ILogger logger);

    [LoggerMessage(13, LogLevel.Critical, "{Reason}")]
    public static partial void SandboxUnavailable(ILogger logger, string reason);

    [LoggerMessage(14, LogLevel.Critical, "{Reason}. This process serves the API but builds no run: each one fails saying so (Builds:WithoutSandbox=fail-runs).")]
    public static partial void SandboxUnavailableRunsFail(ILogger logger, string reason);
}
