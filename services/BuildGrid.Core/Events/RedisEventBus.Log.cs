using Microsoft.Extensions.Logging;

namespace BuildGrid.Core;

// The Redis event bus's part of the Core log (kept beside the bus; ids 40-49).
internal static partial class Log
{
    [LoggerMessage(40, LogLevel.Warning, "Event bus {AppId}: Redis failed; retrying in {Delay}")]
    public static partial void EventBusRedisFailed(ILogger logger, string appId, TimeSpan delay, Exception exception);

    [LoggerMessage(41, LogLevel.Warning, "Event bus {AppId}: event {EventId} on {Topic} failed (attempt {Attempt}); retrying in {Delay}")]
    public static partial void EventDeliveryFailed(ILogger logger, string appId, string topic, string eventId, int attempt, TimeSpan delay);

    [LoggerMessage(42, LogLevel.Warning, "Event bus {AppId}: event {EventId} on {Topic} moved to {DeadLetterTopic}: {Reason}")]
    public static partial void EventDeadLettered(ILogger logger, string appId, string topic, string eventId, string deadLetterTopic, string reason);

    [LoggerMessage(44, LogLevel.Warning, "Event bus {AppId}: Redis came back without its data; publishing again the events sent in the last {Window}")]
    public static partial void EventBusRedisLostData(ILogger logger, string appId, TimeSpan window);

    [LoggerMessage(43, LogLevel.Information, "Event bus {AppId}: an event on {Topic} taken by stopped consumer {Consumer} is delivered again")]
    public static partial void EventRecovered(ILogger logger, string appId, string topic, string consumer);
}
