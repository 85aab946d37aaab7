using System.Security.Cryptography;
using System.Text;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Identity;
using BuildGrid.Identity.Storage;
using BuildGrid.Identity.V1;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Role = BuildGrid.Identity.V1.Role;
using PrincipalKind = BuildGrid.Identity.V1.PrincipalKind;

namespace BuildGrid.Identity.Domain;

/// <summary>
/// Turns an Authorization header value into a principal: Basic user and password (PBKDF2 hashes), Basic robot and its
/// token, Bearer API or robot token (SHA-256 lookups). Failed logins count against the account (<see cref="LoginThrottle"/>);
/// a locked account is refused before its password is looked at.
/// </summary>
public sealed class Authenticator(IdentityStore store, PasswordHasher<UserRow> hasher, LoginThrottle throttle, IdentitySettings settings,
    IOptions<IdentityOptions> options, TimeProvider time)
{
    /// <summary>The password the seeds' Harbor examples use for admin; accepted only in protected mode.</summary>
    public const string HarborDefaultPassword = "Harbor12345";
    static readonly TimeSpan TouchEvery = TimeSpan.FromMinutes(1);

    // Verified when the user does not exist, so that an unknown name costs as much as a wrong password.
    readonly Lazy<string> decoy = new(() => hasher.HashPassword(new UserRow(), Secrets.NewPassword()));

    public async Task<AuthenticatedPrincipal> AuthenticateAsync(string authorization, CancellationToken cancellationToken)
    {
        switch (Credential.Parse(authorization))
        {
            case Credential.Basic { User: var user, Password: var password } when IdentityRules.TrySplitRobot(user, out var ns, out var name):
                return await RobotAsync(user, () => store.FindRobotAsync(ns, name, cancellationToken), password, cancellationToken);
            case Credential.Basic { User: var user, Password: var password }:
                return await UserAsync(user, password, cancellationToken);
            case Credential.Bearer { Token: var token } when Secrets.LooksLikeToken(token, Secrets.RobotTokenPrefix):
                return await RobotAsync(null, () => store.FindRobotByHashAsync(Secrets.HashToken(token), cancellationToken), token, cancellationToken);
            case Credential.Bearer { Token: var token } when Secrets.LooksLikeToken(token, Secrets.TokenPrefix):
                return await ApiTokenAsync(null, token, cancellationToken);
            default:
                throw Access.Unauthenticated("The credentials are wrong, expired or revoked.");
        }
    }

    async Task<AuthenticatedPrincipal> UserAsync(string name, string password, CancellationToken cancellationToken)
    {
        RefuseIfLocked(name);
        // An API token works as a password too (docker login with a token, as Harbor's CLI secrets do).
        if (Secrets.LooksLikeToken(password, Secrets.TokenPrefix))
            return await ApiTokenAsync(name, password, cancellationToken);
        var user = await store.FindUserAsync(name, cancellationToken);
        var ok = user is not null && !IsTrue(user.Disabled) && PasswordMatches(user, password);
        if (user is null)
            hasher.VerifyHashedPassword(new UserRow(), decoy.Value, password);
        if (!ok)
            throw Failed(name);
        throttle.Succeeded(name);
        return await UserPrincipalAsync(user!, null, cancellationToken);
    }

    bool PasswordMatches(UserRow user, string password)
    {
        if (user.Name == IdentityRules.AdminUser && settings.ProtectedMode
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(password), Encoding.UTF8.GetBytes(HarborDefaultPassword)))
            return true;
        return user.PasswordHash is { } hash && hasher.VerifyHashedPassword(user, hash, password) != PasswordVerificationResult.Failed;
    }

    async Task<AuthenticatedPrincipal> ApiTokenAsync(string? claimedUser, string token, CancellationToken cancellationToken)
    {
        var row = await store.FindTokenByHashAsync(Secrets.HashToken(token), cancellationToken);
        var now = time.GetUtcNow();
        if (row is null || claimedUser is not null && row.UserName != claimedUser || row.ExpiresAt is { } lapse && lapse <= now.ToUnixTimeMilliseconds())
            throw claimedUser is null ? Access.Unauthenticated("The token is wrong, expired or revoked.") : Failed(claimedUser);
        var user = await store.FindUserAsync(row.UserName, cancellationToken);
        if (user is null || IsTrue(user.Disabled))
            throw claimedUser is null ? Access.Unauthenticated("The token's user is disabled or deleted.") : Failed(claimedUser);
        if (row.LastUsedAt is not { } used || now.ToUnixTimeMilliseconds() - used >= TouchEvery.TotalMilliseconds)
            await store.TouchTokenAsync(row.Id, now.ToUnixTimeMilliseconds(), cancellationToken);
        if (claimedUser is not null)
            throttle.Succeeded(claimedUser);
        return await UserPrincipalAsync(user, row.ExpiresAt, cancellationToken);
    }

    async Task<AuthenticatedPrincipal> RobotAsync(string? account, Func<Task<RobotRow?>> find, string token, CancellationToken cancellationToken)
    {
        if (account is not null)
            RefuseIfLocked(account);
        var robot = Secrets.LooksLikeToken(token, Secrets.RobotTokenPrefix) ? await find() : null;
        var now = time.GetUtcNow();
        var ok = robot is not null
            && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(robot.TokenHash), Encoding.ASCII.GetBytes(Secrets.HashToken(token)))
            && (robot.ExpiresAt is not { } lapse || lapse > now.ToUnixTimeMilliseconds());
        if (!ok)
            throw account is null ? Access.Unauthenticated("The token is wrong, expired or revoked.") : Failed(account);
        if (account is not null)
            throttle.Succeeded(account);
        if (robot!.LastUsedAt is not { } used || now.ToUnixTimeMilliseconds() - used >= TouchEvery.TotalMilliseconds)
            await store.TouchRobotAsync(robot.Namespace, robot.Name, now.ToUnixTimeMilliseconds(), cancellationToken);
        var principal = new AuthenticatedPrincipal { Name = robot.Account, Kind = PrincipalKind.Robot };
        foreach (var binding in await store.RolesOfAsync(robot.Account, cancellationToken))
        {
            if (binding.Namespace == robot.Namespace)   // confined to its namespace, whatever a binding says
                principal.Roles[binding.Namespace] = (Role)binding.Role;
        }
        if (robot.ExpiresAt is { } expires)
        {
            principal.CredentialExpireTime = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(expires));
            principal.ExpiresSoon = ExpiresSoon(expires);
        }
        return principal;
    }

    async Task<AuthenticatedPrincipal> UserPrincipalAsync(UserRow user, long? credentialExpiry, CancellationToken cancellationToken)
    {
        var principal = new AuthenticatedPrincipal { Name = user.Name, Kind = PrincipalKind.User, Admin = IsTrue(user.IsAdmin), Email = user.Email };
        foreach (var binding in await store.RolesOfAsync(user.Name, cancellationToken))
            principal.Roles[binding.Namespace] = (Role)binding.Role;
        if (credentialExpiry is { } expires)
            principal.CredentialExpireTime = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(expires));
        return principal;
    }

    public bool ExpiresSoon(long expiresAt) =>
        expiresAt - time.GetUtcNow().ToUnixTimeMilliseconds() <= options.Value.RobotExpiryWarning.TotalMilliseconds;

    void RefuseIfLocked(string account)
    {
        if (throttle.LockedFor(account) is { } left)
            throw Errors.Create(Code.ResourceExhausted, Reasons.TooManyFailedLogins,
                $"Too many failed logins for '{account}': try again in {Math.Ceiling(left.TotalSeconds)} s.",
                ("account", account), ("retry_after_seconds", ((int)Math.Ceiling(left.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    global::Grpc.Core.RpcException Failed(string account)
    {
        throttle.Failed(account);
        return Access.Unauthenticated("The credentials are wrong, expired or revoked.");
    }

    static bool IsTrue(long flag) => flag != 0;
}
