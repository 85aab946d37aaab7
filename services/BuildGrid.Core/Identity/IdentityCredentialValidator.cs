using System.Security.Cryptography;
using System.Text;
using BuildGrid.Core.Clients;
using Grpc.Core;
using Grpc.Net.ClientFactory;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using IdentityClient = BuildGrid.Identity.V1.Identity.IdentityClient;
using V1 = BuildGrid.Identity.V1;

namespace BuildGrid.Core.Identity;

/// <summary>
/// Checks credentials by asking the Identity service (<c>Authenticate</c>, which callers may reach without credentials:
/// the credentials are the request, so this never recurses). A successful answer is cached for
/// <see cref="CacheFor"/>, keyed by the SHA-256 of the header (never the header itself), and never past the credential's
/// own expiry: a revoked token, a deleted user or a changed role takes effect within <see cref="CacheFor"/>. Failures are
/// not cached, so every wrong attempt reaches the service's failed-login throttle, which counts per account and the
/// client's address (signed into the call as this process's service identity, so no caller can claim another's).
/// <para><see cref="RecheckAsync"/> asks <c>CheckPrincipal</c> whether a principal that authenticated earlier (a registry
/// token's) still stands, cached the same <see cref="CacheFor"/>.</para>
/// </summary>
public sealed class IdentityCredentialValidator(GrpcClientFactory clients, TimeProvider time) : ICredentialValidator, IDisposable
{
    public const string AppId = ServiceAddresses.Identity;
    /// <summary>The longest a validated credential is trusted without asking again.</summary>
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(5);
    static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(15);

    readonly MemoryCache cache = new(new MemoryCacheOptions { SizeLimit = 10_000 });

    /// <summary>Who this process is to the Identity service when it checks credentials on a client's behalf.</summary>
    static readonly Principal Checker = Principal.Service("credential-check");

    public async ValueTask<Principal?> ValidateAsync(string authorization, string? clientAddress, CancellationToken cancellationToken)
    {
        var key = Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(authorization)));
        if (cache.TryGetValue(key, out Principal? cached))
            return cached;
        V1.AuthenticatedPrincipal answer;
        try
        {
            answer = await clients.CreateClient<IdentityClient>(nameof(IdentityClient)).AuthenticateAsync(
                new V1.AuthenticateRequest { Authorization = authorization }, Caller.OnBehalfOf(new Metadata(), Checker, clientAddress),
                deadline: DateTime.UtcNow.Add(CallTimeout), cancellationToken: cancellationToken);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unauthenticated or StatusCode.InvalidArgument)
        {
            return null;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, e.Status.Detail), e.Trailers);
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"The Identity service could not check the credentials: {e.Status.Detail}"));
        }
        var principal = ToPrincipal(answer);
        var expires = time.GetUtcNow().Add(CacheFor);
        if (answer.CredentialExpireTime is { } lapse && lapse.ToDateTimeOffset() < expires)
            expires = lapse.ToDateTimeOffset();
        cache.Set(key, principal, new MemoryCacheEntryOptions { AbsoluteExpiration = expires, Size = 1 });
        return principal;
    }

    public async ValueTask<Principal?> RecheckAsync(Principal principal, CancellationToken cancellationToken)
    {
        if (principal.Kind is not (PrincipalKind.User or PrincipalKind.Robot))
            return principal;
        var key = $"check\n{principal.Kind}\n{principal.Name}\n{principal.Credential}";
        if (cache.TryGetValue(key, out Principal? cached))
            return cached is null ? null : cached with { Credential = principal.Credential };
        V1.AuthenticatedPrincipal? answer;
        try
        {
            answer = await clients.CreateClient<IdentityClient>(nameof(IdentityClient)).CheckPrincipalAsync(
                new V1.CheckPrincipalRequest
                {
                    Name = principal.Name, Kind = principal.Kind == PrincipalKind.Robot ? V1.PrincipalKind.Robot : V1.PrincipalKind.User,
                    CredentialId = principal.Credential ?? "",
                }, Caller.OnBehalfOf(new Metadata(), Checker, null), deadline: DateTime.UtcNow.Add(CallTimeout), cancellationToken: cancellationToken);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unauthenticated or StatusCode.InvalidArgument)
        {
            answer = null;
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"The Identity service could not check the credentials: {e.Status.Detail}"));
        }
        // A refusal is remembered as briefly as a success: a deleted user's token is refused without asking each time.
        var now = answer is null ? null : ToPrincipal(answer) with { Credential = principal.Credential };
        cache.Set(key, now, new MemoryCacheEntryOptions { AbsoluteExpiration = time.GetUtcNow().Add(CacheFor), Size = 1 });
        return now;
    }

    public static Principal ToPrincipal(V1.AuthenticatedPrincipal answer)
    {
        var roles = new Dictionary<string, Role>(StringComparer.Ordinal);
        foreach (var (ns, role) in answer.Roles)
        {
            if (role is > V1.Role.Unspecified and <= V1.Role.Owner)
                roles[ns] = (Role)(int)role;
        }
        var kind = answer.Kind switch
        {
            V1.PrincipalKind.Local => PrincipalKind.Local,
            V1.PrincipalKind.User => PrincipalKind.User,
            V1.PrincipalKind.Robot => PrincipalKind.Robot,
            V1.PrincipalKind.Service => PrincipalKind.Service,
            _ => PrincipalKind.Anonymous,
        };
        return new Principal(answer.Name, kind, answer.Admin, roles) { Credential = answer.CredentialId is { Length: > 0 } id ? id : null };
    }

    /// <summary>
    /// Makes the Identity service the judge of credentials in this process (replacing <see cref="AdminCredentialValidator"/>),
    /// through a typed client addressed by <see cref="ServiceAddresses"/>.
    /// </summary>
    public static IServiceCollection Use(IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(IdentityCredentialValidator)))
            return services;
        services.AddBuildGridClient<IdentityClient>(AppId);
        services.AddSingleton<IdentityCredentialValidator>();
        services.Replace(ServiceDescriptor.Singleton<ICredentialValidator>(sp => sp.GetRequiredService<IdentityCredentialValidator>()));
        return services;
    }

    public void Dispose() => cache.Dispose();
}
