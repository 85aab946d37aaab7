namespace BuildGrid.Standalone;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Embedded Garnet (Redis protocol) listening on {Endpoint}, data in {Directory}")]
    public static partial void GarnetStarted(ILogger logger, string endpoint, string directory);
}
