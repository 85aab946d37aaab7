using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace BuildGrid.InProcess;

internal static partial class Log
{
    // The ids these messages had in BuildGrid.Core's log, before the invoker had a project of its own.
    [LoggerMessage(40, LogLevel.Information, "In-process call {Method} ended with status {StatusCode}: {Detail}")]
    public static partial void InProcessCallFailed(ILogger logger, string method, StatusCode statusCode, string detail);

    [LoggerMessage(41, LogLevel.Information, "In-process call {Method} was canceled")]
    public static partial void InProcessCallCanceled(ILogger logger, string method);

    [LoggerMessage(42, LogLevel.Error, "Error when executing service method '{Method}' (in-process call)")]
    public static partial void InProcessCallError(ILogger logger, string method, Exception exception);
}
