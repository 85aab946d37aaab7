namespace BuildGrid.Identity;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Bootstrap admin: password hash set from {Setting}")]
    public static partial void AdminPasswordSet(ILogger logger, string setting);

    [LoggerMessage(2, LogLevel.Warning, "Account {Account} locked for {Delay} after {Failures} failed logins")]
    public static partial void AccountLocked(ILogger logger, string account, TimeSpan delay, int failures);

    [LoggerMessage(3, LogLevel.Warning, "Robot {Robot}: its token expires at {ExpiresAt:u}; regenerate it before then")]
    public static partial void RobotExpiresSoon(ILogger logger, string robot, DateTimeOffset expiresAt);

    [LoggerMessage(4, LogLevel.Warning, "Robot {Robot}: its token expired at {ExpiresAt:u}; regenerate it")]
    public static partial void RobotExpired(ILogger logger, string robot, DateTimeOffset expiresAt);

    [LoggerMessage(5, LogLevel.Warning, "Checking robot expiries failed; retrying at the next check")]
    public static partial void RobotCheckFailed(ILogger logger, Exception exception);
}
