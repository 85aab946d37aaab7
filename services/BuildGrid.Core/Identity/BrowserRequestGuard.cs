using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace BuildGrid.Core.Identity;

/// <summary>
/// Keeps a web page in the user's browser from driving BuildGrid (cross-site request forgery, DNS rebinding).
/// <list type="bullet">
/// <item>A state-changing request (any method but GET, HEAD and OPTIONS) whose <c>Origin</c> is not BuildGrid's own
/// origin (the scheme and <c>Host</c> it was addressed to, or one listed in <c>BUILDGRID_ALLOWED_ORIGINS</c>), or that
/// a browser marks <c>Sec-Fetch-Site: cross-site</c> / <c>same-site</c> without such an origin, is refused with 403 —
/// unless it carries a bearer token. Browsers attach cookies and cached Basic credentials to a page's requests on
/// their own, never a bearer token, so Basic does not exempt a cross-origin request (the only cookies BuildGrid sets are the web console's, path /console, SameSite=Strict, with antiforgery on every form).</item>
/// <item>In protected mode (calls without credentials act as the admin) a request whose <c>Host</c> is not a loopback
/// name or address (<c>localhost</c>, <c>*.localhost</c>, 127.0.0.0/8, <c>[::1]</c>) is refused with 403: a page on
/// <c>evil.example</c> that rebinds its name to 127.0.0.1 still sends <c>Host: evil.example</c>. gRPC calls
/// (<c>application/grpc</c>, which no page can send) are not held to the Host rule.</item>
/// </list>
/// Clients that are not browsers (curl, docker, skopeo, the seeds' examples) send no <c>Origin</c> and pass.
/// The refusal is <c>{"code":7,"message":...}</c> (google.rpc.Status, which a dialect's error step reshapes) unless the
/// caller gives its own writer (the registry's <c>/v2/</c> errors).
/// </summary>
public static class BrowserRequestGuard
{
    public const string AllowedOriginsSetting = "BUILDGRID_ALLOWED_ORIGINS";

    /// <param name="applies">The paths this instance guards (each process composes the guard once per path family).</param>
    /// <param name="refuse">Writes the refusal (status 403 and the message) in the path's dialect; null for google.rpc.Status.</param>
    public static IApplicationBuilder UseBrowserRequestGuard(this IApplicationBuilder app, Func<PathString, bool> applies,
        Func<HttpContext, string, Task>? refuse = null)
    {
        var protectedMode = app.ApplicationServices.GetRequiredService<IdentitySettings>().ProtectedMode;
        var allowed = (app.ApplicationServices.GetRequiredService<IConfiguration>()[AllowedOriginsSetting] ?? "")
            .Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(o => o.TrimEnd('/'))
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        refuse ??= WriteStatusAsync;
        return app.Use(async (context, next) =>
        {
            if (applies(context.Request.Path) && Refusal(context.Request, protectedMode, allowed) is { } message)
            {
                context.Response.Clear();
                await refuse(context, message);
                return;
            }
            await next(context);
        });
    }

    /// <summary>Why the request is refused, or null.</summary>
    public static string? Refusal(HttpRequest request, bool protectedMode, IReadOnlySet<string> allowedOrigins)
    {
        if (protectedMode && !IsGrpc(request) && request.Host.HasValue && !IsLoopbackHost(request.Host.Host))
            return $"Host '{Shorten(request.Host.Value)}' is not a loopback name: without credentials configured BuildGrid answers only " +
                   "requests addressed to localhost, 127.0.0.1 or [::1]";
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method))
            return null;
        var origin = request.Headers.Origin.ToString();
        var own = origin.Length > 0 && (IsOwnOrigin(request, origin) || allowedOrigins.Contains(origin.TrimEnd('/')));
        var site = request.Headers["Sec-Fetch-Site"].ToString();
        var foreign = origin.Length > 0 ? !own
            : site.Equals("cross-site", StringComparison.OrdinalIgnoreCase) || site.Equals("same-site", StringComparison.OrdinalIgnoreCase);
        if (!foreign || HasBearer(request))
            return null;
        return $"cross-origin request refused: a page from {(origin.Length > 0 ? Shorten(origin) : "another site")} may not change " +
               $"BuildGrid; call it from its own origin, send an API token (Authorization: Bearer), or list the origin in {AllowedOriginsSetting}";
    }

    static bool IsOwnOrigin(HttpRequest request, string origin) =>
        string.Equals(origin, $"{request.Scheme}://{request.Host.Value}", StringComparison.OrdinalIgnoreCase);

    static bool HasBearer(HttpRequest request) =>
        request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase);

    static bool IsGrpc(HttpRequest request) =>
        request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true;

    /// <summary>localhost, a name under .localhost (RFC 6761: always loopback), or a loopback address.</summary>
    public static bool IsLoopbackHost(string host)
    {
        host = host.TrimEnd('.');
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
            return true;
        return IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address);
    }

    static string Shorten(string text) => text.Length <= 100 ? text : text[..100] + "…";

    static Task WriteStatusAsync(HttpContext context, string message)
    {
        context.Response.StatusCode = StatusCodes.Status403Forbidden;
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new { code = 7, message, details = Array.Empty<object>() }));
    }
}
