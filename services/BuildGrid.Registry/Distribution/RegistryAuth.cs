using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using BuildGrid.Core.Contracts;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Identity;
using BuildGrid.Registry.Domain;
using BuildGrid.Registry.Storage;
using Microsoft.Extensions.Primitives;

namespace BuildGrid.Registry.Distribution;

/// <summary>
/// Who calls <c>/v2/</c> and what it may do there — the registry's one place for identity, as the distribution token
/// flow has it. A caller presents a bearer token from <c>GET /v2/token</c> (what docker, podman, skopeo and buildah
/// do after the 401 challenge), Basic credentials directly (users, robots, an API token as the password, or a registry
/// token as the password: how the build worker pushes), or nothing: the admin in protected mode, anonymous otherwise.
/// <para>Rights come from the principal's role in the repository's namespace (its first path component): pull needs
/// guest — or a public repository —, push developer, delete owner. A token grants at most what it lists, and never
/// more than the principal may still do, so visibility changes apply at once.</para>
/// </summary>
public sealed class RegistryAuth(IdentitySettings identity, ICredentialValidator validator, RegistryTokens tokens)
{
    public const string Pull = "pull";
    public const string Push = "push";
    public const string Delete = "delete";
    static readonly object ItemKey = typeof(RegistryCaller);

    /// <summary>The caller of a request: its principal and, for a registry token, what the token grants (null: the principal's own rights).</summary>
    public sealed record RegistryCaller(Principal Principal, RegistryGrant? Grant, bool PresentedCredentials);

    /// <summary>The namespace of a repository: its first path component (an image-market cluster, a Harbor project, a Quay organization).</summary>
    public static string NamespaceOf(string repository) => repository.IndexOf('/') is > 0 and var slash ? repository[..slash] : repository;

    /// <summary>What <paramref name="principal"/> may do on a repository by its role, before any token limits it.</summary>
    public static IEnumerable<string> ActionsOf(Principal principal, string repository, bool isPublic)
    {
        var role = principal.RoleIn(NamespaceOf(repository));
        if (isPublic || role >= Role.Guest) yield return Pull;
        if (role >= Role.Developer) yield return Push;
        if (role >= Role.Owner) yield return Delete;
    }

    public static bool Allows(RegistryCaller caller, string repository, bool isPublic, string action) =>
        ActionsOf(caller.Principal, repository, isPublic).Contains(action)
        && (caller.Grant is null || caller.Grant.Allows("repository", repository, action) || action == Pull && isPublic);

    /// <summary>The caller this request resolved to, once <see cref="CallerOfAsync"/> ran; null before or when refused.</summary>
    public static RegistryCaller? ResolvedCaller(HttpContext context) =>
        context.Items.TryGetValue(ItemKey, out var known) ? known as RegistryCaller : null;

    /// <summary>
    /// Which repositories a caller may see in a list: all for an admin (with a token: one granting the catalog), else the
    /// public ones, those of the namespaces it holds a role in, and those its token grants pull on.
    /// </summary>
    public static RepositoryVisibility? VisibleTo(RegistryCaller caller)
    {
        var principal = caller.Principal;
        if (principal.IsAdmin && (caller.Grant is null || caller.Grant.Allows("registry", "catalog", "*")))
            return null;
        var namespaces = principal.IsAdmin ? [] : principal.Roles.Where(r => r.Value >= Role.Guest).Select(r => r.Key).ToList();
        var repositories = caller.Grant?.Access.Where(a => a.Type == "repository" && (a.Actions.Contains(Pull) || a.Actions.Contains("*")))
            .Select(a => a.Name).ToList() ?? [];
        return new RepositoryVisibility(true, namespaces, repositories);
    }

    /// <summary>The caller resolved for this request (once), or null when its credentials are wrong, expired or tampered with.</summary>
    public async ValueTask<RegistryCaller?> CallerOfAsync(HttpContext context)
    {
        if (context.Items.TryGetValue(ItemKey, out var known))
            return (RegistryCaller?)known;
        var caller = await ResolveAsync(context.Request.Headers.Authorization, context.Connection.RemoteIpAddress?.ToString(), context.RequestAborted);
        context.Items[ItemKey] = caller;
        return caller;
    }

    async ValueTask<RegistryCaller?> ResolveAsync(StringValues header, string? clientAddress, CancellationToken cancellationToken)
    {
        var authorization = header.ToString();
        if (authorization.Length == 0)
            return new RegistryCaller(identity.ProtectedMode ? Principal.Local : Principal.Anonymous, null, false);
        if (!AuthenticationHeaderValue.TryParse(authorization, out var parsed) || parsed.Parameter is not { Length: > 0 } parameter)
            return null;
        // A registry token, as a bearer token or as the password of Basic credentials (docker login's "token as password").
        var token = parsed.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase) ? parameter
            : parsed.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase) ? BasicPassword(parameter) : null;
        if (token is not null && RegistryTokens.LooksLikeToken(token) && await tokens.VerifyAsync(token) is { } grant)
        {
            // The token's principal as it stands now (at most a few seconds old): a deleted or disabled user, a revoked
            // API token or robot token ends the token; a revoked role narrows it at once.
            return await validator.RecheckAsync(grant.Principal, cancellationToken) is { } current
                ? new RegistryCaller(current, grant with { Principal = current }, true) : null;
        }
        // Anything else (a user's password, a robot's or an API token) is the credential validator's to judge.
        // The failed-login throttle answers RESOURCE_EXHAUSTED: the client's to wait out (429), not a fault of the registry.
        Principal? validated;
        try
        {
            validated = await validator.ValidateAsync(authorization, clientAddress, cancellationToken);
        }
        catch (global::Grpc.Core.RpcException e) when (e.StatusCode == global::Grpc.Core.StatusCode.ResourceExhausted)
        {
            throw new RegistryException(RegistryError.TooManyRequests, "too many requests", e.Status.Detail)
            {
                RetryAfterSeconds = Access.RetryAfterSeconds(e),
            };
        }
        return validated is { } principal ? new RegistryCaller(principal, null, true) : null;
    }

    /// <summary>The user name of Basic credentials (an operator's name to record), or null.</summary>
    public static string? BasicUser(string authorization) =>
        authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase) && Decode(authorization[6..].Trim()) is { } decoded
            ? decoded.Split(':', 2)[0] : null;

    static string? BasicPassword(string parameter) => Decode(parameter) is { } decoded && decoded.IndexOf(':') is >= 0 and var colon ? decoded[(colon + 1)..] : null;

    static string? Decode(string base64)
    {
        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(base64));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>
    /// The 401 of the token flow: <c>WWW-Authenticate: Bearer realm=…,service=…,scope=…</c> naming the scope the request
    /// needs, so that the client fetches a token and retries.
    /// </summary>
    public static RegistryException Challenge(HttpContext context, string? scope, string message, bool invalidToken = false)
    {
        var request = context.Request;
        var value = new StringBuilder($"Bearer realm=\"{request.Scheme}://{request.Host}/v2/token\",service=\"{RegistryTokens.Service}\"");
        if (scope is not null)
            value.Append($",scope=\"{scope}\"");
        if (invalidToken)
            value.Append(",error=\"invalid_token\"");
        context.Response.Headers.WWWAuthenticate = value.ToString();
        return new RegistryException(RegistryError.Unauthorized, "authentication required", message);
    }

    /// <summary>
    /// <c>GET /v2/token?service=…&amp;scope=…</c> (the distribution token spec): checks the credentials, if any, and
    /// answers a token granting the requested actions the principal has — possibly none, which is not an error.
    /// </summary>
    public async Task TokenAsync(HttpContext context, Func<string, CancellationToken, Task<bool?>> isPublic)
    {
        var request = context.Request;
        if (!HttpMethods.IsGet(request.Method))
        {
            context.Response.Headers.Allow = "GET";
            throw new RegistryException(RegistryError.Unsupported, "the operation is unsupported", $"method {request.Method} is not allowed here");
        }
        var caller = await CallerOfAsync(context);
        if (caller is null)
        {
            context.Response.Headers.WWWAuthenticate = $"Basic realm=\"{RegistryTokens.Service}\"";
            throw new RegistryException(RegistryError.Unauthorized, "authentication required", "the credentials are wrong, expired or revoked");
        }
        var granted = new List<RegistryAccess>();
        foreach (var text in request.Query["scope"].SelectMany(s => (s ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries)))
        {
            var scope = RegistryAccess.ParseScope(text);
            if (scope is null)
                continue;   // distribution ignores what it cannot read
            if (scope.Type == "registry" && scope.Name == "catalog")
            {
                if (caller.Principal.IsAdmin && (caller.Grant is null || caller.Grant.Allows("registry", "catalog", "*")))
                    granted.Add(new RegistryAccess("registry", "catalog", ["*"]));
                continue;
            }
            if (scope.Type != "repository" || !OciNames.IsValidRepository(scope.Name))
                continue;
            var visible = await isPublic(scope.Name, context.RequestAborted) ?? false;
            var wanted = scope.Actions.Contains("*") ? [Pull, Push, Delete] : scope.Actions;
            var actions = wanted.Where(a => Allows(caller, scope.Name, visible, a)).ToList();
            if (actions.Count > 0)
                granted.Add(new RegistryAccess("repository", scope.Name, actions));
        }
        var (token, issuedAt, expiresIn) = tokens.Issue(caller.Principal, granted);
        var body = JsonSerializer.SerializeToUtf8Bytes(new TokenBody(token, token, (int)expiresIn.TotalSeconds,
            issuedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture)), DistributionJson.Relaxed.TokenBody);
        context.Response.Headers.CacheControl = "no-store";
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }
}
