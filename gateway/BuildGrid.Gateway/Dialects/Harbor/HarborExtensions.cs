using System.Text.Json;

namespace BuildGrid.Gateway.Dialects.Harbor;

internal static class HarborExtensions
{
    /// <summary>Paths the Harbor dialect owns: their errors are answered {"code": status, "msg": message}.</summary>
    static readonly string[] Prefixes = ["/projects", "/repositories", "/api/projects", "/api/repositories"];

    /// <summary>Harbor's current API: its errors are {"errors": [{"code": "NOT_FOUND", "message": "..."}]}.</summary>
    static readonly string[] V2Prefixes = ["/api/v2.0"];

    /// <summary>The reads an anonymous caller may make; the Registry service shows it only public repositories.</summary>
    internal static void AllowAnonymousReads(Core.Identity.AnonymousAccessOptions options)
    {
        foreach (var method in new[] { "ListProjects", "ListRepositories", "ListTags", "GetManifest", "ListProjectsV2", "GetProjectV2",
                     "ListRepositoriesV2", "GetRepositoryV2", "ListArtifactsV2", "GetArtifactV2", "ListArtifactTagsV2" })
            options.Methods.Add($"/{BuildGrid.Gateway.Harbor.V1.Harbor.Descriptor.FullName}/{method}");
    }

    public static WebApplication MapHarbor(this WebApplication app)
    {
        app.UseDialectErrors(Prefixes, async (context, status, message) =>
        {
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
            await context.Response.WriteAsync(JsonSerializer.Serialize(new { code, msg = text }));
        });
        app.UseDialectErrors(V2Prefixes, async (context, status, message) =>
        {
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
            await context.Response.WriteAsync(JsonSerializer.Serialize(new { errors = new[] { new { code, message = text } } }));
        });
        app.MapGrpcService<HarborService>();
        return app;
    }
}
