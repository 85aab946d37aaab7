using System.Text.Json;

namespace BuildGrid.Gateway.Dialects.Quay;

internal static class QuayExtensions
{
    /// <summary>The path the Quay dialect owns: every error there is Quay's error object.</summary>
    static readonly string[] Prefixes = ["/api/v1/repository", "/api/v1/user", "/api/v1/superuser", "/api/v1/organization"];

    /// <summary>The reads an anonymous caller may make; the Registry service shows it only public repositories.</summary>
    internal static void AllowAnonymousReads(Core.Identity.AnonymousAccessOptions options)
    {
        foreach (var method in new[] { "ListRepositories", "GetRepository" })
            options.Methods.Add($"/{BuildGrid.Gateway.Quay.V1.Quay.Descriptor.FullName}/{method}");
    }

    public static WebApplication MapQuay(this WebApplication app)
    {
        app.UseDialectErrors(Prefixes, async (context, status, message) =>
        {
            // Quay's types (endpoints/exception.py); unimplemented routes are the caller's mistake too.
            var (code, type) = status switch
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
                _ => (status, "invalid_request"),
            };
            var detail = code switch
            {
                404 => "Not Found",
                DialectErrors.InsufficientStorage => DialectErrors.DefaultMessage(context, code, message, true),
                405 => $"The method {context.Request.Method} is not allowed for the requested URL.",
                >= 500 => "Internal Server Error",
                413 => "The request body is larger than this endpoint accepts",
                401 when message.Length == 0 => "Authentication required",
                429 when message.Length == 0 => "Too many requests; retry later",
                _ => message.Length > 0 ? message : "The request could not be read",
            };
            context.Response.StatusCode = code;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["detail"] = detail,
                ["error_message"] = detail,
                ["error_type"] = type,
                ["title"] = type,
                ["type"] = $"{context.Request.Scheme}://{context.Request.Host}/api/v1/error/{type}",
                ["status"] = code,
            }));
        });
        app.MapGrpcService<QuayService>();
        app.MapGrpcService<QuayIdentityService>();
        return app;
    }
}
