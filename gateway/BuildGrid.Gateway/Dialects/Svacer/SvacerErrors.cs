using System.Text.Json;
using BuildGrid.Core.Errors;
using Grpc.Core;

namespace BuildGrid.Gateway.Dialects.Svacer;

/// <summary>
/// The svacer dialect's one error shape: <c>{"error": "&lt;what is wrong&gt;", "reason": "&lt;REASON&gt;"}</c> with an honest
/// HTTP status — 400 bad input (the message names the field or the allowed values), 404 unknown id, name or route,
/// 405 wrong method, 409 conflict, 503/500 only for the server's own faults. The facade raises its errors with
/// <see cref="DialectErrors.Raise"/> (the transcoder picks the status from the code); <see cref="WriteAsync"/> writes the
/// shape for those and for everything the transcoder and routing answer on their own.
/// </summary>
internal sealed class SvacerErrors : IDialectErrors
{
    SvacerErrors() { }

    /// <summary>Paths the svacer dialect owns: their errors are answered in its shape.</summary>
    public static string[] Prefixes { get; } = ["/api/public"];

    /// <summary>Bad input the gateway finds itself has the reason the services use for it.</summary>
    public const string BadRequest = Reasons.InvalidArgument;

    // Quotes and non-ASCII names are written as themselves ("project 'bash'"), not as \u0027 escapes; the body is
    // always served as application/json, never embedded in HTML.
    static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Bad input found by the gateway itself.</summary>
    public static RpcException Bad(string message) => Raise(StatusCode.InvalidArgument, BadRequest, message);

    public static RpcException Raise(StatusCode code, string reason, string message) => DialectErrors.Raise(code, reason, message);

    /// <summary>A domain failure the caller can act on, re-raised with its reason; null when it is the server's fault.</summary>
    public static RpcException? FromDomain(RpcException exception)
    {
        var reason = exception.Info()?.Reason;
        var code = DialectErrors.CallerStatus(exception.StatusCode);
        if (code is not { } c)
            return null;
        // Domain messages start with the proto field they are about; the dialect's callers know it by the body's name.
        var message = exception.Status.Detail;
        if (exception.Info()?.Metadata.TryGetValue("field", out var field) == true && FieldNames.TryGetValue(field, out var name)
            && message.StartsWith(field + " ", StringComparison.Ordinal))
            message = name + message[field.Length..];
        return Raise(c, reason ?? c.ToString().ToUpperInvariant(), message);
    }

    static readonly Dictionary<string, string> FieldNames = new() { ["name_contains"] = "name" };

    public static Task WriteAsync(HttpContext context, DialectError error)
    {
        var status = error.Status;
        var reason = error.Reason ?? DialectErrors.DefaultReason(status, BadRequest);
        // A full disk is raised as ResourceExhausted, which the transcoder answers 429: it is 507 here.
        if (reason == Reasons.InsufficientStorage)
            context.Response.StatusCode = status = DialectErrors.InsufficientStorage;
        var message = DialectErrors.DefaultMessage(context, status, error.Message, error.Raised);
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, string> { ["error"] = message, ["reason"] = reason }, Json));
    }
}
