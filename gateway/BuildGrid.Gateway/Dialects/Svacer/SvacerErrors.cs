using System.Text.Json;
using BuildGrid.Core.Errors;
using Grpc.Core;

namespace BuildGrid.Gateway.Dialects.Svacer;

/// <summary>
/// The svacer dialect's one error shape: <c>{"error": "&lt;what is wrong&gt;", "reason": "&lt;REASON&gt;"}</c> with an honest
/// HTTP status — 400 bad input (the message names the field or the allowed values), 404 unknown id, name or route,
/// 405 wrong method, 409 conflict, 503/500 only for the server's own faults. The facade raises a plain RpcException
/// (the transcoder picks the status from its code) and leaves the reason in the request's items; <see cref="DialectErrors"/>
/// then writes the shape for those answers and for everything the transcoder and routing answer on their own.
/// </summary>
internal static class SvacerErrors
{
    const string ReasonKey = "buildgrid.svacer.reason";

    /// <summary>Bad input the gateway finds itself has the reason the services use for it.</summary>
    public const string BadRequest = Reasons.InvalidArgument;

    // Quotes and non-ASCII names are written as themselves ("project 'bash'"), not as \u0027 escapes; the body is
    // always served as application/json, never embedded in HTML.
    static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>True once the facade raised its own answer for this request (it must pass through unchanged).</summary>
    public static bool IsRaised(ServerCallContext context) => context.GetHttpContext().Items.ContainsKey(ReasonKey);

    /// <summary>Bad input found by the gateway itself.</summary>
    public static RpcException Bad(ServerCallContext context, string message) => Raise(context, StatusCode.InvalidArgument, BadRequest, message);

    public static RpcException Raise(ServerCallContext context, StatusCode code, string reason, string message)
    {
        context.GetHttpContext().Items[ReasonKey] = reason;
        return new RpcException(new Status(code, message));
    }

    /// <summary>A domain failure the caller can act on, re-raised with its reason; null when it is the server's fault.</summary>
    public static RpcException? FromDomain(ServerCallContext context, RpcException exception)
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
        return Raise(context, c, reason ?? c.ToString().ToUpperInvariant(), message);
    }

    static readonly Dictionary<string, string> FieldNames = new() { ["name_contains"] = "name" };

    public static Task WriteAsync(HttpContext context, int status, string message)
    {
        var reason = context.Items[ReasonKey] as string ?? DialectErrors.DefaultReason(status, BadRequest);
        // A full disk is raised as ResourceExhausted, which the transcoder answers 429: it is 507 here.
        if (reason == Reasons.InsufficientStorage)
            context.Response.StatusCode = status = DialectErrors.InsufficientStorage;
        message = DialectErrors.DefaultMessage(context, status, message, context.Items.ContainsKey(ReasonKey));
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, string> { ["error"] = message, ["reason"] = reason }, Json));
    }
}
