using Microsoft.Extensions.Logging;

namespace BuildGrid.Registry;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Registry: pushed {Repository}:{Tag} = {Digest}")]
    public static partial void ImagePushed(ILogger logger, string repository, string tag, string digest);

    [LoggerMessage(2, LogLevel.Error, "Registry: {Method} {Path} failed")]
    public static partial void RequestFailed(ILogger logger, string method, string path, Exception exception);

    [LoggerMessage(3, LogLevel.Information,
        "Registry GC: marked {Marked}, deleted {Deleted} blobs ({Bytes} bytes), {Uploads} expired uploads, {Stray} stray files in {Duration} (dry run {DryRun})")]
    public static partial void GcFinished(ILogger logger, long marked, long deleted, long bytes, long uploads, long stray, TimeSpan duration, bool dryRun);

    [LoggerMessage(4, LogLevel.Error, "Registry GC: scheduled collection failed; next try in {Interval}")]
    public static partial void GcFailed(ILogger logger, TimeSpan interval, Exception exception);

    [LoggerMessage(5, LogLevel.Warning, "Registry: could not delete file {Path}")]
    public static partial void DeleteFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(6, LogLevel.Debug, "Registry: client went away during {Method} {Path}")]
    public static partial void ClientAborted(ILogger logger, string method, string path);

    [LoggerMessage(7, LogLevel.Warning, "Notifications: delivery {DeliveryId} of {Uuid} ({Method}) failed, attempt {Attempt}, {Failures} consecutive failures: {Error}")]
    public static partial void DeliveryFailed(ILogger logger, long deliveryId, string uuid, string method, int attempt, int failures, string error);

    [LoggerMessage(8, LogLevel.Error, "Notifications: the sender's loop failed; it retries after the poll interval")]
    public static partial void SenderFailed(ILogger logger, Exception exception);
}
