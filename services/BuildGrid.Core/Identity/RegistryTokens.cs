using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace BuildGrid.Core.Identity;

/// <summary>One <c>access</c> entry of a registry token: <c>repository:team/app:pull,push</c> or <c>registry:catalog:*</c>.</summary>
public sealed record RegistryAccess(string Type, string Name, IReadOnlyList<string> Actions)
{
    /// <summary>Parses a token request's <c>scope</c> (<c>type:name:action,action</c>; names may contain ':' for a port); null when malformed.</summary>
    public static RegistryAccess? ParseScope(string scope)
    {
        var first = scope.IndexOf(':');
        var last = scope.LastIndexOf(':');
        if (first <= 0 || last <= first + 1 || last == scope.Length - 1 || scope.Length > 1024)
            return null;
        var actions = scope[(last + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return actions.Length == 0 ? null : new RegistryAccess(scope[..first], scope[(first + 1)..last], actions.Distinct(StringComparer.Ordinal).ToList());
    }

    public override string ToString() => $"{Type}:{Name}:{string.Join(',', Actions)}";
}

/// <summary>What a verified registry token says: who it was issued to and the access it grants, nothing beyond.</summary>
public sealed record RegistryGrant(Principal Principal, IReadOnlyList<RegistryAccess> Access)
{
    public bool Allows(string type, string name, string action) =>
        Access.Any(a => a.Type == type && a.Name == name && (a.Actions.Contains(action) || a.Actions.Contains("*")));
}

/// <summary>
/// The bearer tokens of the OCI distribution token flow (<c>GET /v2/token</c>): short-lived JWTs (HS256) that grant a
/// principal the listed actions on the listed repositories. Signed with a key derived from the installation's service
/// key, so any BuildGrid process can mint one — the build worker mints a push token for exactly its run's repository —
/// and the registry checks it. The principal rides along — with the credential that authenticated it (<c>bg_cred</c>) —
/// so that the registry can apply what changed since: a repository made private is private at once, and a revoked role,
/// API token or robot, or a deleted user, stops the token within seconds (<see cref="ICredentialValidator.RecheckAsync"/>).
/// </summary>
public sealed class RegistryTokens(IdentitySettings settings, TimeProvider time)
{
    /// <summary>The <c>service</c> of the challenge and the tokens' issuer and audience.</summary>
    public const string Service = "buildgrid";
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);

    readonly SymmetricSecurityKey key = new(HMACSHA256.HashData(settings.ServiceKey, "buildgrid registry token"u8)) { KeyId = "buildgrid-registry" };
    readonly JsonWebTokenHandler handler = new() { SetDefaultTimesOnTokenCreation = false };

    /// <summary>A signed token granting <paramref name="principal"/> exactly <paramref name="access"/>, with when it was issued and expires.</summary>
    public (string Token, DateTimeOffset IssuedAt, TimeSpan ExpiresIn) Issue(Principal principal, IReadOnlyList<RegistryAccess> access, TimeSpan? lifetime = null)
    {
        var now = time.GetUtcNow();
        var expiresIn = lifetime ?? Lifetime;
        var claims = new Dictionary<string, object>
        {
            ["sub"] = principal.Name,
            ["jti"] = Guid.NewGuid().ToString("N"),
            ["access"] = access.Select(a => (object)new Dictionary<string, object>
            {
                ["type"] = a.Type, ["name"] = a.Name, ["actions"] = a.Actions.Cast<object>().ToList(),
            }).ToList(),
            ["bg_kind"] = principal.Kind.ToString(),
            ["bg_admin"] = principal.IsAdmin,
        };
        if (principal.Credential is { } credential)
            claims["bg_cred"] = credential;
        if (principal.Roles.Count > 0)
            claims["bg_roles"] = principal.Roles.ToDictionary(r => r.Key, r => (object)r.Value.ToString());
        var token = handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Service, Audience = Service, Claims = claims,
            IssuedAt = now.UtcDateTime, NotBefore = now.UtcDateTime, Expires = now.Add(expiresIn).UtcDateTime,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
        });
        return (token, now, expiresIn);
    }

    /// <summary>Whether <paramref name="token"/> has the shape of a JWT (three dot-separated parts), so that it is ours to check.</summary>
    public static bool LooksLikeToken(string token) => token.Count(c => c == '.') == 2 && token.Length is > 20 and < 16 * 1024;

    /// <summary>Whether now (by the clock this was given) lies within a token's lifetime, allowing 30 seconds of skew.</summary>
    bool InLifetime(DateTime? notBefore, DateTime? expires)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var skew = TimeSpan.FromSeconds(30);
        return expires is { } end && now <= end.ToUniversalTime() + skew && (notBefore is not { } start || now >= start.ToUniversalTime() - skew);
    }

    /// <summary>The grant of a token this installation issued, or null when it is malformed, tampered with, expired or foreign.</summary>
    public async ValueTask<RegistryGrant?> VerifyAsync(string token)
    {
        if (!LooksLikeToken(token))
            return null;
        var result = await handler.ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = Service, ValidAudience = Service, IssuerSigningKey = key, ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            RequireExpirationTime = true, LifetimeValidator = (notBefore, expires, _, _) => InLifetime(notBefore, expires),
        });
        if (!result.IsValid || result.SecurityToken is not JsonWebToken jwt)
            return null;
        try
        {
            using var payload = JsonDocument.Parse(Base64Url.DecodeFromChars(jwt.EncodedPayload));
            var root = payload.RootElement;
            var name = root.GetProperty("sub").GetString();
            if (string.IsNullOrEmpty(name) || !Enum.TryParse<PrincipalKind>(root.GetProperty("bg_kind").GetString(), out var kind))
                return null;
            var roles = new Dictionary<string, Role>(StringComparer.Ordinal);
            if (root.TryGetProperty("bg_roles", out var roleClaims) && roleClaims.ValueKind == JsonValueKind.Object)
                foreach (var role in roleClaims.EnumerateObject())
                    if (Enum.TryParse<Role>(role.Value.GetString(), out var parsed))
                        roles[role.Name] = parsed;
            var access = new List<RegistryAccess>();
            foreach (var entry in root.GetProperty("access").EnumerateArray())
                access.Add(new RegistryAccess(entry.GetProperty("type").GetString() ?? "", entry.GetProperty("name").GetString() ?? "",
                    entry.GetProperty("actions").EnumerateArray().Select(a => a.GetString() ?? "").ToList()));
            var credential = root.TryGetProperty("bg_cred", out var cred) && cred.ValueKind == JsonValueKind.String ? cred.GetString() : null;
            return new RegistryGrant(new Principal(name, kind, root.GetProperty("bg_admin").GetBoolean(), roles) { Credential = credential }, access);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }
}
