using System.Security.Claims;
using System.Text;
using BuildGrid.Core.Clients;
using BuildGrid.Core.Identity;
using BuildGrid.Identity.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authentication;
using IdentityClient = BuildGrid.Identity.V1.Identity.IdentityClient;

namespace BuildGrid.Gateway.Console;

/// <summary>
/// The signed-in caller of a console request. The session cookie (encrypted and signed by Data Protection, HTTP-only,
/// SameSite=Strict) holds a bearer credential, and every call the console makes carries it as <c>authorization</c>, so
/// that the services resolve the caller exactly as for any REST or gRPC client. A password sign-in is exchanged for an
/// API token of the session's lifetime (revoked on sign-out); a token sign-in keeps the token. In protected mode the
/// caller may also go on without credentials, as every local client does, and acts as the admin.
/// </summary>
public sealed class ConsoleSession(IHttpContextAccessor accessor, IdentityClient identity, IdentitySettings settings, TimeProvider time)
{
    public const string Policy = "BuildGrid.Console";
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(12);

    const string CredentialClaim = "buildgrid:credential";
    const string TokenIdClaim = "buildgrid:token_id";
    const string AdminClaim = "buildgrid:admin";
    const string RoleClaim = "buildgrid:role";

    HttpContext Http => accessor.HttpContext ?? throw new InvalidOperationException("No HTTP request.");

    public bool ProtectedMode => settings.ProtectedMode;

    /// <summary>The time now, as the process's <see cref="TimeProvider"/> tells it.</summary>
    public DateTimeOffset Now => time.GetUtcNow();

    public string Name => Http.User.Identity?.Name ?? "";

    public bool IsAdmin => Http.User.HasClaim(AdminClaim, "true");

    /// <summary>The namespaces the caller held a role in at sign-in (what the pages offer; the services decide).</summary>
    public IReadOnlyDictionary<string, string> Roles =>
        Http.User.FindAll(RoleClaim).Select(c => c.Value.Split('=', 2)).Where(p => p.Length == 2)
            .GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.First()[1]);

    /// <summary>
    /// Whether to offer a write that needs <paramref name="role"/> in <paramref name="namespace"/> (from the roles at
    /// sign-in; the service decides when the write is made). The namespace of <c>ns/repo</c> is <c>ns</c>.
    /// </summary>
    public bool Offers(string @namespace, BuildGrid.Core.Identity.Role role)
    {
        if (IsAdmin)
            return true;
        var ns = @namespace.Split('/', 2)[0];
        return Roles.TryGetValue(ns, out var held) && Rank(held) >= (int)role;
    }

    static int Rank(string role) => role switch { "guest" => 1, "developer" => 2, "owner" => 3, _ => 0 };

    /// <summary>The metadata of a call made for this caller: its credential and the request id.</summary>
    public Metadata Metadata()
    {
        var metadata = new Metadata { { Caller.RequestIdHeader, Http.TraceIdentifier } };
        if (Http.User.FindFirst(CredentialClaim)?.Value is { Length: > 0 } credential)
            metadata.Add("authorization", credential);
        return metadata;
    }

    /// <summary>Options of a call made for this caller: its credential, a deadline and the request's cancellation.</summary>
    public CallOptions Options() => new(Metadata(), Caller.Deadline(), Http.RequestAborted);

    /// <summary>Signs in with a user's password (exchanged for a session token) or an API/robot token.</summary>
    public async Task SignInAsync(string user, string password, string token, CancellationToken cancellationToken)
    {
        string credential;
        string? tokenId = null;
        var now = Now;
        if (token.Trim() is { Length: > 0 } bearer)
            credential = "Bearer " + bearer;
        else
        {
            var basic = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user.Trim()}:{password}"));
            var created = await identity.CreateTokenAsync(new CreateTokenRequest
            {
                Name = $"console session {now.UtcDateTime:yyyy-MM-dd HH:mm}Z",
                ExpireTime = Timestamp.FromDateTimeOffset(now.Add(Lifetime)),
            }, Call(basic, cancellationToken));
            credential = "Bearer " + created.Secret;
            tokenId = created.Token.Id;
        }
        var caller = await identity.GetCallerAsync(new GetCallerRequest(), Call(credential, cancellationToken));
        await SignInAsync(caller, credential, tokenId);
    }

    /// <summary>Protected mode only: a session without credentials, which acts as the admin as every local client does.</summary>
    public async Task SignInLocalAsync(CancellationToken cancellationToken)
    {
        if (!ProtectedMode)
            throw Access.Unauthenticated("Sign in with a password or a token: BuildGrid is not in protected mode.");
        var caller = await identity.GetCallerAsync(new GetCallerRequest(), Call(null, cancellationToken));
        await SignInAsync(caller, "", null);
    }

    async Task SignInAsync(AuthenticatedPrincipal caller, string credential, string? tokenId)
    {
        var claims = new List<Claim>
        {
            new(ClaimTypes.Name, caller.Name),
            new(CredentialClaim, credential),
            new(AdminClaim, caller.Admin ? "true" : "false"),
        };
        if (tokenId is not null)
            claims.Add(new Claim(TokenIdClaim, tokenId));
        foreach (var (ns, role) in caller.Roles)
            claims.Add(new Claim(RoleClaim, $"{ns}={Format.Role(role)}"));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, ConsoleExtensions.Scheme));
        var until = Now.Add(Lifetime);
        await Http.SignInAsync(ConsoleExtensions.Scheme, principal, new AuthenticationProperties
        {
            IsPersistent = false,
            ExpiresUtc = caller.CredentialExpireTime is { } expires && expires.ToDateTimeOffset() < until ? expires.ToDateTimeOffset() : until,
        });
    }

    /// <summary>Ends the session; a token the sign-in made is revoked, so the cookie is worth nothing afterwards.</summary>
    public async Task SignOutAsync(CancellationToken cancellationToken)
    {
        if (Http.User.FindFirst(TokenIdClaim)?.Value is { Length: > 0 } id)
        {
            try
            {
                await identity.RevokeTokenAsync(new RevokeTokenRequest { Id = id }, Options());
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.NotFound or StatusCode.Unauthenticated)
            {
                // Already revoked or expired.
            }
        }
        await Http.SignOutAsync(ConsoleExtensions.Scheme);
    }

    CallOptions Call(string? authorization, CancellationToken cancellationToken)
    {
        var metadata = new Metadata { { Caller.RequestIdHeader, Http.TraceIdentifier } };
        if (authorization is not null)
            metadata.Add("authorization", authorization);
        return new CallOptions(metadata, Caller.Deadline(), cancellationToken);
    }
}
