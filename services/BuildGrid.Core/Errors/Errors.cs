using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;

namespace BuildGrid.Core.Errors;

/// <summary>RpcExceptions carrying google.rpc.Status with an ErrorInfo: what every service throws.</summary>
public static class Errors
{
    public static RpcException NotFound(string reason, string kind, string id) =>
        Create(Code.NotFound, reason, $"{kind} '{id}' not found", ("id", id));

    public static RpcException AlreadyExists(string reason, string kind, string id) =>
        Create(Code.AlreadyExists, reason, $"{kind} '{id}' already exists", ("id", id));

    /// <summary>A bad request field; <paramref name="field"/> is the proto field name.</summary>
    public static RpcException Invalid(string reason, string field, string message, params (string Key, string Value)[] metadata) =>
        Create(Code.InvalidArgument, reason, message, [("field", field), .. metadata]);

    public static RpcException Conflict(string reason, string message, params (string Key, string Value)[] metadata) =>
        Create(Code.Aborted, reason, message, metadata);

    /// <summary>A write that the disk cannot take (see <see cref="Reasons.InsufficientStorage"/>); the message says what to do.</summary>
    public static RpcException InsufficientStorage(string message) => Create(Code.ResourceExhausted, Reasons.InsufficientStorage, message);

    /// <summary>
    /// Longest message and metadata value an error carries. Errors travel in HTTP/2 trailers, which a client refuses past
    /// 64 KiB: an error that echoed a 1 MB field value would reach the caller as Unavailable (a 503 through the gateway).
    /// </summary>
    public const int MaxTextLength = 1024;

    public static RpcException Create(Code code, string reason, string message, params (string Key, string Value)[] metadata)
    {
        var info = new ErrorInfo { Reason = reason, Domain = Reasons.Domain };
        foreach (var (key, value) in metadata)
            info.Metadata[key] = Shorten(Redaction.UrlUserInfoMasked(value));
        return new Google.Rpc.Status { Code = (int)code, Message = Shorten(Redaction.UrlUserInfoMasked(message)), Details = { Any.Pack(info) } }.ToRpcException();
    }

    /// <summary>The text cut to its first <see cref="MaxTextLength"/> characters, marked with an ellipsis.</summary>
    public static string Shorten(string text) => text.Length <= MaxTextLength ? text : text[..MaxTextLength] + "…";

    /// <summary>The ErrorInfo of a failed call, or null when the callee sent none (transport errors, crashes).</summary>
    public static ErrorInfo? Info(this RpcException exception) => exception.GetRpcStatus()?.GetDetail<ErrorInfo>();
}
