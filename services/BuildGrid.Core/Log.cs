using Microsoft.Extensions.Logging;

namespace BuildGrid.Core;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "BuildGrid listening: rest={RestUrl} grpc={GrpcUrl} data={DataDir}")]
    public static partial void Listening(ILogger logger, Uri restUrl, Uri grpcUrl, string dataDir);

    [LoggerMessage(2, LogLevel.Information, "Database {Database}: applied migration {Track}/{Version:D4} ({Name})")]
    public static partial void MigrationApplied(ILogger logger, string database, string track, int version, string name);

    [LoggerMessage(3, LogLevel.Warning, "Outbox {Database}: publishing event {EventId} on {Topic} failed (attempt {Attempt}); retrying in {Delay}")]
    public static partial void PublishFailed(ILogger logger, string database, string eventId, string topic, int attempt, TimeSpan delay, Exception exception);

    [LoggerMessage(4, LogLevel.Error, "Outbox {Database}: relay loop failed; restarting in {Delay}")]
    public static partial void RelayFailed(ILogger logger, string database, TimeSpan delay, Exception exception);

    [LoggerMessage(5, LogLevel.Warning, "In-process subscriber of {Topic} failed for event {EventId}")]
    public static partial void SubscriberFailed(ILogger logger, string topic, string eventId, Exception exception);

    [LoggerMessage(6, LogLevel.Warning, "PROTECTED MODE: BuildGrid listens only on loopback and {Setting} is not set, so every call without credentials acts as the admin. Set {Setting} before exposing it to anyone.")]
    public static partial void ProtectedMode(ILogger logger, string setting);

    [LoggerMessage(7, LogLevel.Warning, "The data directory {DataDir} is open to other users (mode {Mode}): it holds password hashes, credentials and private images. Run chmod -R go= on it; BuildGrid creates what it writes owner-only.")]
    public static partial void DataDirOpenToOthers(ILogger logger, string dataDir, string mode);

    [LoggerMessage(8, LogLevel.Warning, "Refused a delivery to {Path} from {RemoteAddress}: {Reason}")]
    public static partial void EventRouteRefused(ILogger logger, string path, string? remoteAddress, string reason);

    [LoggerMessage(43, LogLevel.Warning, "Dapr delivery of event {EventId} on {Topic} failed; answering RETRY")]
    public static partial void DaprDeliveryFailed(ILogger logger, string eventId, string topic, Exception exception);

    [LoggerMessage(44, LogLevel.Warning, "Dapr delivered event {EventId} on {Topic} that cannot be applied ({Reason}); answering DROP")]
    public static partial void DaprDeliveryDropped(ILogger logger, string eventId, string topic, string reason);

    [LoggerMessage(9, LogLevel.Warning, "Ignored a message on Redis {Channel} that is not signed with this installation's key (forged, or another installation shares this Redis)")]
    public static partial void UnsignedMessageIgnored(ILogger logger, string channel);

    [LoggerMessage(60, LogLevel.Warning, "A metrics sample failed (the gauge keeps its last value): {Reason}")]
    public static partial void MetricSampleFailed(ILogger logger, string reason);

    [LoggerMessage(10, LogLevel.Warning, "The disk of the data directory is full: released the delete reserve {Path} so that a delete can run")]
    public static partial void DiskReserveReleased(ILogger logger, string path);

    [LoggerMessage(11, LogLevel.Warning, "Could not make the delete reserve {Path} ({Reason}); it is made again when a create finds room")]
    public static partial void DiskReserveNotMade(ILogger logger, string path, string reason);
}
