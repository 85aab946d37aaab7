using BuildGrid.Core.Errors;
using BuildGrid.Gateway.ImageMarket.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace BuildGrid.Gateway.Dialects.ImageMarket;

/// <summary>Which image-market call is answering: the same domain error means a different code per call.</summary>
internal enum Call { New, Delete, Clone, Info, List, Save, Plugin, View, Build, BuildHistory }

/// <summary>
/// The image-market return codes (seed 000, the image-market API document): a domain error's reason, per call, becomes a code, an errMsg
/// and a content. Success is 10000 / "ok"; content is "" when there is nothing to return and -1 on failure, except
/// where the document shows a message there (10001, and 10006 "already exist").
/// </summary>
internal static class ImageMarketCodes
{
    public const int Ok = 10000;
    public const int SpecialChar = 10001;
    public const int CloneSourceMissing = 10002;
    public const int DeleteMissing = 10003;
    public const int PluginError = 10004;
    public const int InvalidParameter = 10006;
    public const int BuildMissing = 10007;
    public const int QueryMissing = 10008;
    public const int Unauthenticated = 10401;
    public const int Forbidden = 10403;
    public const int TooLarge = 10413;
    public const int TooManyRequests = 10429;
    public const int Internal = 10100;

    public static readonly Value Nothing = Value.ForString("");
    public static readonly Value Failed = Value.ForNumber(-1);

    public static Envelope Success(Value? content = null) => new() { Code = Ok, ErrMsg = "ok", Content = content ?? Nothing };

    public static Envelope Invalid(string detail) =>
        new() { Code = InvalidParameter, ErrMsg = $"parameter invalid: {detail}", Content = Failed };

    /// <summary>The extension interface's documented parameter error: 10004 "param error: ...", content {}.</summary>
    public static Envelope PluginParameterError(string message) =>
        new() { Code = PluginError, ErrMsg = $"param error: {message}", Content = Value.ForStruct(new Struct()) };

    public static Envelope InternalError() => new() { Code = Internal, ErrMsg = "server internal error", Content = Failed };

    /// <summary>
    /// A full disk: the document has no code for it, so the server-side 10100, with an errMsg that says "insufficient
    /// storage" and what to do instead of "server internal error".
    /// </summary>
    public static Envelope InsufficientStorage(string message) => new() { Code = Internal, ErrMsg = message, Content = Failed };

    /// <summary>The envelope for a failed domain call; null when the failure is not the caller's (→ 10100).</summary>
    public static Envelope? For(Call call, RpcException exception, IReadOnlyDictionary<string, string> fieldNames)
    {
        var info = exception.Info();
        var id = info?.Metadata.TryGetValue("id", out var value) == true ? value : "";
        var field = info?.Metadata.TryGetValue("field", out var f) == true ? f : "";
        var dialectField = fieldNames.TryGetValue(field, out var mapped) ? mapped : field;
        var message = Rename(exception.Status.Detail, field, dialectField);

        switch (info?.Reason)
        {
            case Reasons.InvalidName:
                return new Envelope { Code = SpecialChar, ErrMsg = "parameter invalid", Content = Value.ForString(message) };
            case Reasons.ProjectAlreadyExists:
                return new Envelope { Code = InvalidParameter, ErrMsg = "project already exist", Content = Value.ForString($"project: {id} already exist") };
            case Reasons.ProjectNotFound:
                return call switch
                {
                    Call.Delete => new Envelope { Code = DeleteMissing, ErrMsg = "project to delete not exist", Content = Failed },
                    Call.Clone => new Envelope { Code = CloneSourceMissing, ErrMsg = "src project not exist", Content = Failed },
                    Call.Save => new Envelope { Code = InvalidParameter, ErrMsg = "project not exist", Content = Value.ForString($"project: {id} not exist") },
                    Call.Build => new Envelope { Code = BuildMissing, ErrMsg = $"Project: {id} to build not exist", Content = Failed },
                    _ => new Envelope { Code = QueryMissing, ErrMsg = $"Project: {id} to query info not exist", Content = Failed },
                };
            case Reasons.PluginNotFound or Reasons.PluginMethodNotFound or Reasons.PluginInvalidParameters:
                return new Envelope { Code = PluginError, ErrMsg = $"param error: {message}", Content = Value.ForStruct(new Struct()) };
            case Reasons.InsufficientStorage:
                return InsufficientStorage(exception.Status.Detail);
            case Reasons.InvalidArgument or Reasons.ConcurrentModification:
                return Invalid(message);
        }
        return exception.StatusCode is StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.AlreadyExists
            or StatusCode.NotFound or StatusCode.OutOfRange
            ? Invalid(message)
            : null;
    }

    /// <summary>Domain messages name proto fields ("name ..."); the dialect's callers know them by their own names.</summary>
    static string Rename(string message, string field, string dialectField) =>
        field.Length > 0 && message.StartsWith(field + " ", StringComparison.Ordinal)
            ? dialectField + message[field.Length..]
            : message;
}
