using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BuildGrid.Core.Events;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace BuildGrid.Core.Identity;

/// <summary>What a verified internal identity token says: who calls, and the address of the client the call was made for.</summary>
public sealed record ServiceIdentity(Principal Principal, string? ClientAddress);

/// <summary>
/// The internal credential between BuildGrid processes, in the <c>x-buildgrid-identity</c> metadata entry: a JWT (HS256,
/// with a key derived from the installation's service key) that carries the caller's principal and the client address,
/// and is bound to one call — its audience is the service that owns the method (<c>projects</c> for
/// <c>/buildgrid.projects.v1.Projects/GetProject</c>, <c>gateway</c> for the REST facades), its <c>bg_method</c> is the
/// method, and it lives <see cref="Lifetime"/>. A token captured from one call is useless for another method, another
/// service, or after a few seconds. Every outgoing call carries one (<see cref="Clients.ServiceIdentityInterceptor"/>).
/// <para>A token may name a read/write class (<c>bg_class</c>) instead of a method, for a caller that cannot know the
/// gRPC method behind a REST path; a read token opens only read methods. BuildGrid's own calls always name the method.</para>
/// </summary>
public sealed class ServiceTokens(IdentitySettings settings, TimeProvider time)
{
    public const string Header = "x-buildgrid-identity";
    /// <summary>How long a token is valid: one call's start, with room for a slow hop, not for a replay later.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(20);
    static readonly TimeSpan Skew = TimeSpan.FromSeconds(5);
    const string Issuer = "buildgrid";

    /// <summary>How long a signed token is handed out again for the same principal, method and client: a quarter of its life,
    /// so a reused one still has at least 15 s, and the same call signed twice gives the same answer anyway.</summary>
    static readonly TimeSpan Reuse = Lifetime / 4;
    /// <summary>The most tokens either cache holds; past it the expired go, and if that is not enough, all.</summary>
    const int CacheLimit = 4096;

    readonly ConcurrentDictionary<string, (string Token, DateTimeOffset Signed)> signed = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, Verified> verified = new(StringComparer.Ordinal);

    /// <summary>What a validated token says, kept by its exact text: its signature and issuer checked once, its lifetime and
    /// binding checked on every use.</summary>
    sealed record Verified(ServiceIdentity Identity, string? Method, string? Class, DateTime? NotBefore, DateTime? Expires, string Audience);

    readonly SymmetricSecurityKey key = new(HMACSHA256.HashData(settings.ServiceKey, "buildgrid service identity"u8)) { KeyId = "buildgrid-identity" };
    readonly JsonWebTokenHandler handler = new() { SetDefaultTimesOnTokenCreation = false };

    /// <summary>
    /// The app that serves a gRPC method: the second segment of a <c>buildgrid.&lt;app&gt;.v1</c> package, and
    /// <c>gateway</c> for the gateway's facades and everything else (reflection, health).
    /// </summary>
    public static string AudienceOf(string method)
    {
        var service = method.TrimStart('/').Split('/', 2)[0];
        var parts = service.Split('.');
        return parts.Length >= 3 && parts[0] == "buildgrid" && Clients.ServiceAddresses.AppIds.Contains(parts[1]) ? parts[1] : "gateway";
    }

    /// <summary>Whether a method only reads (its name starts with a read verb, as the audit trail judges it).</summary>
    public static bool IsRead(string method)
    {
        var name = method[(method.LastIndexOf('/') + 1)..];
        return AuditInterceptor.ReadPrefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal));
    }

    /// <summary>A token for exactly one call of <paramref name="method"/> (its full name, <c>/package.Service/Method</c>).</summary>
    /// <remarks>
    /// Signing (an HMAC over a JSON payload) and verifying cost more than a small call itself (signing benchmark), so a token
    /// made for the same principal, method and client address less than <see cref="Reuse"/> ago is handed out again: it
    /// grants exactly what a fresh one would, and has most of its life left.
    /// </remarks>
    public string Sign(Principal principal, string method, string? clientAddress)
    {
        var now = time.GetUtcNow();
        var cacheKey = SignKey(principal, method, clientAddress);
        if (signed.TryGetValue(cacheKey, out var cached) && now - cached.Signed < Reuse && now >= cached.Signed)
            return cached.Token;
        var token = Create(principal, AudienceOf(method), clientAddress, new() { ["bg_method"] = method });
        Bound(signed, entry => now - entry.Signed >= Reuse);
        signed[cacheKey] = (token, now);
        return token;
    }

    static string SignKey(Principal principal, string method, string? clientAddress)
    {
        var builder = new StringBuilder(128).Append(principal.Name).Append('\n').Append(principal.Kind).Append('\n').Append(principal.IsAdmin)
            .Append('\n').Append(method).Append('\n').Append(clientAddress);
        foreach (var (name, role) in principal.Roles.OrderBy(r => r.Key, StringComparer.Ordinal))
            builder.Append('\n').Append(name).Append('=').Append(role);
        return builder.ToString();
    }

    static void Bound<T>(ConcurrentDictionary<string, T> cache, Func<T, bool> spent)
    {
        if (cache.Count < CacheLimit)
            return;
        foreach (var entry in cache)
            if (spent(entry.Value))
                cache.TryRemove(entry.Key, out _);
        if (cache.Count >= CacheLimit)
            cache.Clear();
    }

    /// <summary>A token for the read (or, with <paramref name="write"/>, every) method of one audience, for callers that cannot name the method.</summary>
    public string SignClass(Principal principal, string audience, bool write, string? clientAddress) =>
        Create(principal, audience, clientAddress, new() { ["bg_class"] = write ? "write" : "read" });

    string Create(Principal principal, string audience, string? clientAddress, Dictionary<string, object> claims)
    {
        var now = time.GetUtcNow();
        claims["sub"] = principal.Name;
        claims["jti"] = Guid.NewGuid().ToString("N");
        claims["bg_kind"] = principal.Kind.ToString();
        claims["bg_admin"] = principal.IsAdmin;
        if (principal.Roles.Count > 0)
            claims["bg_roles"] = principal.Roles.ToDictionary(r => r.Key, r => (object)r.Value.ToString());
        if (clientAddress is { Length: > 0 and <= 64 })
            claims["bg_client"] = clientAddress;
        return handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer, Audience = audience, Claims = claims,
            IssuedAt = now.UtcDateTime, NotBefore = now.UtcDateTime, Expires = now.Add(Lifetime).UtcDateTime,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
        });
    }

    /// <summary>
    /// The identity a token carries for a call of <paramref name="method"/>, or null when it is malformed, forged,
    /// expired, meant for another service or another method, or a read token on a write.
    /// </summary>
    /// <remarks>A token validated once is kept by its exact text (an HMAC-signed text nobody without the key can make), so its
    /// signature is checked once; audience, lifetime and method binding are checked on every use.</remarks>
    public async ValueTask<ServiceIdentity?> VerifyAsync(string token, string method)
    {
        if (verified.TryGetValue(token, out var known))
            return Admits(known, method) ? known.Identity : null;
        if (!RegistryTokens.LooksLikeToken(token))
            return null;
        var result = await handler.ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = Issuer, ValidAudience = AudienceOf(method), IssuerSigningKey = key, ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            RequireExpirationTime = true, LifetimeValidator = (notBefore, expires, _, _) => InLifetime(notBefore, expires),
        });
        if (!result.IsValid || result.SecurityToken is not JsonWebToken jwt)
            return null;
        // The claims as the handler read them from the validated token: bound to a method, or to a class.
        var bound = jwt.TryGetPayloadValue<string>("bg_method", out var boundMethod) ? boundMethod : null;
        var @class = bound is null && jwt.TryGetPayloadValue<string>("bg_class", out var boundClass) ? boundClass : null;
        if (bound is null && @class is not ("write" or "read"))
            return null;
        if (!jwt.TryGetPayloadValue<string>("sub", out var name) || string.IsNullOrEmpty(name)
            || !jwt.TryGetPayloadValue<string>("bg_kind", out var kindName) || !Enum.TryParse<PrincipalKind>(kindName, out var kind)
            || !jwt.TryGetPayloadValue<bool>("bg_admin", out var admin))
            return null;
        var roles = new Dictionary<string, Role>(StringComparer.Ordinal);
        if (jwt.TryGetPayloadValue<JsonElement>("bg_roles", out var roleClaims) && roleClaims.ValueKind == JsonValueKind.Object)
            foreach (var role in roleClaims.EnumerateObject())
                if (role.Value.ValueKind == JsonValueKind.String && Enum.TryParse<Role>(role.Value.GetString(), out var parsed))
                    roles[role.Name] = parsed;
        var client = jwt.TryGetPayloadValue<string>("bg_client", out var address) ? address : null;
        var entry = new Verified(new ServiceIdentity(new Principal(name, kind, admin, roles), client), bound, @class,
            jwt.ValidFrom == DateTime.MinValue ? null : jwt.ValidFrom, jwt.ValidTo == DateTime.MinValue ? null : jwt.ValidTo, AudienceOf(method));
        Bound(verified, spent => !InLifetime(spent.NotBefore, spent.Expires));
        verified[token] = entry;
        return Admits(entry, method) ? entry.Identity : null;
    }

    /// <summary>Whether a validated token opens <paramref name="method"/>: its service, still in its lifetime, and bound to this
    /// method or to a class that covers it.</summary>
    bool Admits(Verified token, string method) =>
        token.Audience == AudienceOf(method) && InLifetime(token.NotBefore, token.Expires)
        && (token.Method is not null ? token.Method == method : token.Class == "write" || token.Class == "read" && IsRead(method));

    /// <summary>
    /// The handler's lifetime check on this class's clock (the handler reads the system clock; tests move this one):
    /// expiry required, and <see cref="Skew"/> either side, as the handler's own <c>ClockSkew</c> applies it.
    /// </summary>
    bool InLifetime(DateTime? notBefore, DateTime? expires)
    {
        var now = time.GetUtcNow().UtcDateTime;
        return expires is { } end && now <= end.ToUniversalTime() + Skew && (notBefore is not { } start || now >= start.ToUniversalTime() - Skew);
    }
}
