using System.Text.Json;

namespace BuildGrid.Gateway.Dialects.Harbor;

/// <summary>Harbor's v1 API errors on the paths it owns: <c>{"code": status, "msg": message}</c> with that HTTP status.</summary>
internal sealed class HarborErrors : IDialectErrors
{
    HarborErrors() { }

    /// <summary>Paths the Harbor dialect owns: their errors are answered {"code": status, "msg": message}.</summary>
    public static string[] Prefixes { get; } = ["/projects", "/repositories", "/api/projects", "/api/repositories"];

    public static Task WriteAsync(HttpContext context, DialectError error)
    {
        var (status, message) = (error.Status, error.Message);
        var text = status switch
        {
            404 when message.Length == 0 => $"no such endpoint: {context.Request.Method} {context.Request.Path}",
            405 => $"method {context.Request.Method} is not allowed here",
            501 => message.Length > 0 ? message : "not implemented",
            DialectErrors.InsufficientStorage => DialectErrors.DefaultMessage(context, status, message, true),
            >= 500 => "internal error",
            _ => message.Length > 0 ? message : "the request could not be read",
        };
        // Unimplemented (POST /repositories without method=DELETE) is the caller's mistake: 405.
        var code = status == 501 ? StatusCodes.Status405MethodNotAllowed : status;
        context.Response.StatusCode = code;
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new { code, msg = text }));
    }
}

/// <summary>Harbor's current API (2.x): its errors are <c>{"errors": [{"code": "NOT_FOUND", "message": "..."}]}</c>.</summary>
internal sealed class HarborV2Errors : IDialectErrors
{
    HarborV2Errors() { }

    public static string[] Prefixes { get; } = ["/api/v2.0"];

    public static Task WriteAsync(HttpContext context, DialectError error)
    {
        var (status, message) = (error.Status, error.Message);
        // Harbor's error codes (src/lib/errors/const.go).
        var code = status switch
        {
            400 => "BAD_REQUEST",
            401 => "UNAUTHORIZED",
            403 => "FORBIDDEN",
            404 => "NOT_FOUND",
            405 or 501 => "METHOD_NOT_ALLOWED",
            409 => "CONFLICT",
            412 => "PRECONDITION",
            413 => "REQUEST_ENTITY_TOO_LARGE",
            429 => "TOO_MANY_REQUEST",
            // Harbor has no code for a full disk (src/lib/errors/const.go); BuildGrid's own, with 507.
            DialectErrors.InsufficientStorage => "INSUFFICIENT_STORAGE",
            _ => status >= 500 ? "UNKNOWN" : "BAD_REQUEST",
        };
        var text = status switch
        {
            404 when message.Length == 0 => $"no such endpoint: {context.Request.Method} {context.Request.Path}",
            405 or 501 => $"method {context.Request.Method} is not allowed here",
            DialectErrors.InsufficientStorage => DialectErrors.DefaultMessage(context, status, message, true),
            >= 500 => "internal error",
            _ => message.Length > 0 ? message : "the request could not be read",
        };
        context.Response.StatusCode = status == 501 ? StatusCodes.Status405MethodNotAllowed : status;
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new { errors = new[] { new { code, message = text } } }));
    }
}
