using System.Text.Json;

namespace BuildGrid.Gateway.Dialects.Quay;

/// <summary>
/// Quay's error object (endpoints/exception.py) for every error on the paths the dialect owns:
/// <c>{"detail", "error_message", "error_type", "title", "type", "status"}</c> with the matching HTTP status. The facade
/// raises domain errors as they are; the status decides the type.
/// </summary>
internal sealed class QuayErrors : IDialectErrors
{
    QuayErrors() { }

    /// <summary>The paths the Quay dialect owns: every error there is Quay's error object.</summary>
    public static string[] Prefixes { get; } = ["/api/v1/repository", "/api/v1/user", "/api/v1/superuser", "/api/v1/organization"];

    public static Task WriteAsync(HttpContext context, DialectError error)
    {
        // Quay's types (endpoints/exception.py); unimplemented routes are the caller's mistake too.
        var (code, type) = error.Status switch
        {
            400 => (400, "invalid_request"),
            401 => (401, "invalid_token"),
            403 => (403, "insufficient_scope"),
            404 => (404, "not_found"),
            405 or 501 => (405, "invalid_request"),
            409 => (409, "invalid_request"),
            413 => (413, "invalid_request"),
            429 => (429, "too_many_requests"),
            // A full disk: Quay has no type of its own for it (its storage errors are 500s); 507 and a type that says it.
            DialectErrors.InsufficientStorage => (DialectErrors.InsufficientStorage, "insufficient_storage"),
            >= 500 => (500, "internal_error"),
            _ => (error.Status, "invalid_request"),
        };
        var detail = code switch
        {
            404 => "Not Found",
            DialectErrors.InsufficientStorage => DialectErrors.DefaultMessage(context, code, error.Message, true),
            405 => $"The method {context.Request.Method} is not allowed for the requested URL.",
            >= 500 => "Internal Server Error",
            413 => "The request body is larger than this endpoint accepts",
            401 when error.Message.Length == 0 => "Authentication required",
            429 when error.Message.Length == 0 => "Too many requests; retry later",
            _ => error.Message.Length > 0 ? error.Message : "The request could not be read",
        };
        context.Response.StatusCode = code;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["detail"] = detail,
            ["error_message"] = detail,
            ["error_type"] = type,
            ["title"] = type,
            ["type"] = $"{context.Request.Scheme}://{context.Request.Host}/api/v1/error/{type}",
            ["status"] = code,
        }));
    }
}
