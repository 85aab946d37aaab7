using Google.Rpc;
using Grpc.Core;

namespace BuildGrid.Client;

/// <summary>Reads the <c>google.rpc.Status</c> details of a failed BuildGrid call.</summary>
public static class BuildGridErrors
{
    /// <summary>
    /// The call's <see cref="ErrorInfo"/> (its <see cref="ErrorInfo.Reason"/> is one of <see cref="ErrorReasons"/>, its
    /// metadata names the <c>field</c> or <c>id</c> at fault), or null when the answer carried none — transport failures,
    /// deadlines, a proxy's own errors.
    /// </summary>
    public static ErrorInfo? GetErrorInfo(this RpcException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception.GetRpcStatus()?.GetDetail<ErrorInfo>();
    }

    /// <summary>The reason of BuildGrid's ErrorInfo (domain <see cref="ErrorReasons.Domain"/>), or null.</summary>
    public static string? GetErrorReason(this RpcException exception) =>
        exception.GetErrorInfo() is { Domain: ErrorReasons.Domain } info ? info.Reason : null;

    /// <summary>Whether the call failed with <paramref name="reason"/>, such as <see cref="ErrorReasons.ProjectNotFound"/>.</summary>
    public static bool HasReason(this RpcException exception, string reason) =>
        string.Equals(exception.GetErrorReason(), reason, StringComparison.Ordinal);
}
