namespace BuildGrid.Gateway;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Error, "Image-market call {Call} failed unexpectedly")]
    public static partial void ImageMarketCallFailed(ILogger logger, string call, Exception exception);

    [LoggerMessage(3, LogLevel.Error, "Svacer call {Call} failed unexpectedly")]
    public static partial void SvacerCallFailed(ILogger logger, string call, Exception exception);

    [LoggerMessage(4, LogLevel.Error, "Zadig call {Call} failed unexpectedly")]
    public static partial void ZadigCallFailed(ILogger logger, string call, Exception exception);
}
