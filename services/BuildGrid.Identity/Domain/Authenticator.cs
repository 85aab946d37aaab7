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
/// token, Bearer API or robot token (SHA-256 lookups). Failed logins count against the account and the client's address
/// (<see cref="LoginThrottle"/>); a locked pair is refused before its password is looked at. At most
/// <see cref="IdentityOptions.MaxConcurrentPasswordChecks"/> password hashes are verified at once (<see cref="PasswordChecks"/>):
/// the excess waits briefly, then is refused fast (RESOURCE_EXHAUSTED, TOO_MANY_PASSWORD_CHECKS) — an unknown user name
/// takes the same path and the same hash work as a known one, so neither latency nor refusal tells them apart.
/// <para>Every answer names the credential that authenticated (<c>credential_id</c>), which <see cref="CheckAsync"/> takes
/// back to tell whether the principal still stands as it did (a registry token's re-check).</para>
/// </summary>
public sealed class Authenticator(IdentityStore store, PasswordHasher<UserRow> hasher, LoginThrottle throttle, PasswordChecks checks,
    IdentitySettings settings, IOptions<IdentityOptions> options, TimeProvider time)
{
    /// <summary>The password the seeds' Harbor examples use for admin; accepted only in protected mode.</summary>
    public const string HarborDefaultPassword = "Harbor12345";
    static readonly TimeSpan TouchEvery = TimeSpan.FromMinutes(1);

    // Verified when the user does not exist, so that an unknown name costs as much as a wrong password.
    readonly Lazy<string> decoy = new(() => hasher.HashPassword(new UserRow(), Secrets.NewPassword()));

    /// <param name="clientAddress">The address of the client that presented the credentials (failures count per account
    /// and address); null when unknown.</param>
    public async Task<AuthenticatedPrincipal> AuthenticateAsync(string authorization, string? clientAddress, CancellationToken cancellationToken)
    {
        var address = clientAddress ?? "";
        switch (Credential.Parse(authorization))
        {
            case Credential.Basic { User: var user, Password: var password } when IdentityRules.TrySplitRobot(user, out var ns, out var name):
                return await RobotAsync(user, address, () => store.FindRobotAsync(ns, name, cancellationToken), password, cancellationToken);
            case Credential.Basic { User: var user, Password: var password }:
                return await UserAsync(user, address, password, cancellationToken);
            case Credential.Bearer { Token: var token } when Secrets.LooksLikeToken(token, Secrets.RobotTokenPrefix):
                return await RobotAsync(null, address, () => store.FindRobotByHashAsync(Secrets.HashToken(token), cancellationToken), token, cancellationToken);
            case Credential.Bearer { Token: var token } when Secrets.LooksLikeToken(token, Secrets.TokenPrefix):
                return await ApiTokenAsync(null, address, token, cancellationToken);
            default:
                throw Access.Unauthenticated("The credentials are wrong, expired or revoked.");
        }
    }

    /// <summary>
    /// The principal <paramref name="name"/> as it stands now, if the credential <paramref name="credentialId"/> (as an
    /// answer of <see cref="AuthenticateAsync"/> named it) still holds: UNAUTHENTICATED when the user is deleted or disabled,
    /// its password changed, the API token revoked or expired, the robot deleted, its token regenerated or expired.
    /// An empty credential id (a principal carried between services, which names none) checks the account alone.
    /// </summary>
    public async Task<AuthenticatedPrincipal> CheckAsync(string name, PrincipalKind kind, string credentialId, CancellationToken cancellationToken)
    {
        var gone = Access.Unauthenticated($"'{name}' no longer holds: the account or credential is deleted, disabled, revoked or expired.");
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (kind == PrincipalKind.Robot)
        {
            if (!IdentityRules.TrySplitRobot(name, out var ns, out var robotName)
                || await store.FindRobotAsync(ns, robotName, cancellationToken) is not { } robot
                || robot.ExpiresAt is { } lapse && lapse <= now
                || credentialId.Length > 0 && credentialId != RobotCredential(robot))
                throw gone;
            return await RobotPrincipalAsync(robot, cancellationToken);
        }
        if (kind != PrincipalKind.User)
            throw Errors.Invalid(Reasons.InvalidArgument, "kind", "only users and robots are checked");
        if (await store.FindUserAsync(name, cancellationToken) is not { } user || IsTrue(user.Disabled))
            throw gone;
        long? expiry = null;
        if (credentialId.StartsWith(TokenCredentialPrefix, StringComparison.Ordinal))
        {
            if (await store.FindTokenAsync(credentialId[TokenCredentialPrefix.Length..], cancellationToken) is not { } token
                || token.UserName != user.Name || token.ExpiresAt is { } lapse && lapse <= now)
                throw gone;
            expiry = token.ExpiresAt;
        }
        else if (credentialId.Length > 0 && credentialId != PasswordCredential(user))
            throw gone;
        return await UserPrincipalAsync(user, expiry, credentialId, cancellationToken);
    }

    const string TokenCredentialPrefix = "token:";

    /// <summary>A password's credential id: changes with the password (a digest of its stored hash, not the hash).</summary>
    static string PasswordCredential(UserRow user) =>
        "password:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(user.PasswordHash ?? "")))[..16];

    static string RobotCredential(RobotRow robot) => "robot:" + robot.TokenHash[..Math.Min(16, robot.TokenHash.Length)];

    async Task<AuthenticatedPrincipal> UserAsync(string name, string address, string password, CancellationToken cancellationToken)
    {
        RefuseIfLocked(name, address);
        // An API token works as a password too (docker login with a token, as Harbor's CLI secrets do).
        if (Secrets.LooksLikeToken(password, Secrets.TokenPrefix))
            return await ApiTokenAsync(name, address, password, cancellationToken);
        var user = await store.FindUserAsync(name, cancellationToken);
        bool ok;
        // Known or not, the same bounded hash work: an unknown name is checked against a decoy hash.
        using (await checks.EnterAsync(cancellationToken))
        {
            ok = user is not null && !IsTrue(user.Disabled) && PasswordMatches(user, password);
            if (user is null)
                hasher.VerifyHashedPassword(new UserRow(), decoy.Value, password);
        }
        if (!ok)
            throw Failed(name, address);
        throttle.Succeeded(name, address);
        return await UserPrincipalAsync(user!, null, PasswordCredential(user!), cancellationToken);
    }

    bool PasswordMatches(UserRow user, string password)
    {
        if (user.Name == IdentityRules.AdminUser && settings.ProtectedMode
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(password), Encoding.UTF8.GetBytes(HarborDefaultPassword)))
            return true;
        return user.PasswordHash is { } hash && hasher.VerifyHashedPassword(user, hash, password) != PasswordVerificationResult.Failed;
    }

    async Task<AuthenticatedPrincipal> ApiTokenAsync(string? claimedUser, string address, string token, CancellationToken cancellationToken)
    {
        var row = await store.FindTokenByHashAsync(Secrets.HashToken(token), cancellationToken);
        var now = time.GetUtcNow();
        if (row is null || claimedUser is not null && row.UserName != claimedUser || row.ExpiresAt is { } lapse && lapse <= now.ToUnixTimeMilliseconds())
            throw claimedUser is null ? Access.Unauthenticated("The token is wrong, expired or revoked.") : Failed(claimedUser, address);
        var user = await store.FindUserAsync(row.UserName, cancellationToken);
        if (user is null || IsTrue(user.Disabled))
            throw claimedUser is null ? Access.Unauthenticated("The token's user is disabled or deleted.") : Failed(claimedUser, address);
        if (row.LastUsedAt is not { } used || now.ToUnixTimeMilliseconds() - used >= TouchEvery.TotalMilliseconds)
            await store.TouchTokenAsync(row.Id, now.ToUnixTimeMilliseconds(), cancellationToken);
        if (claimedUser is not null)
            throttle.Succeeded(claimedUser, address);
        return await UserPrincipalAsync(user, row.ExpiresAt, TokenCredentialPrefix + row.Id, cancellationToken);
    }

    async Task<AuthenticatedPrincipal> RobotAsync(string? account, string address, Func<Task<RobotRow?>> find, string token, CancellationToken cancellationToken)
    {
        if (account is not null)
            RefuseIfLocked(account, address);
        var robot = Secrets.LooksLikeToken(token, Secrets.RobotTokenPrefix) ? await find() : null;
        var now = time.GetUtcNow();
        var ok = robot is not null
            && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(robot.TokenHash), Encoding.ASCII.GetBytes(Secrets.HashToken(token)))
            && (robot.ExpiresAt is not { } lapse || lapse > now.ToUnixTimeMilliseconds());
        if (!ok)
            throw account is null ? Access.Unauthenticated("The token is wrong, expired or revoked.") : Failed(account, address);
        if (account is not null)
            throttle.Succeeded(account, address);
        if (robot!.LastUsedAt is not { } used || now.ToUnixTimeMilliseconds() - used >= TouchEvery.TotalMilliseconds)
            await store.TouchRobotAsync(robot.Namespace, robot.Name, now.ToUnixTimeMilliseconds(), cancellationToken);
        return await RobotPrincipalAsync(robot, cancellationToken);
    }

    async Task<AuthenticatedPrincipal> RobotPrincipalAsync(RobotRow robot, CancellationToken cancellationToken)
    {
        var principal = new AuthenticatedPrincipal { Name = robot.Account, Kind = PrincipalKind.Robot, CredentialId = RobotCredential(robot) };
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

    async Task<AuthenticatedPrincipal> UserPrincipalAsync(UserRow user, long? credentialExpiry, string credentialId, CancellationToken cancellationToken)
    {
        var principal = new AuthenticatedPrincipal
        {
            Name = user.Name, Kind = PrincipalKind.User, Admin = IsTrue(user.IsAdmin), Email = user.Email, CredentialId = credentialId,
        };
        foreach (var binding in await store.RolesOfAsync(user.Name, cancellationToken))
            principal.Roles[binding.Namespace] = (Role)binding.Role;
        if (credentialExpiry is { } expires)
            principal.CredentialExpireTime = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(expires));
        return principal;
    }

    public bool ExpiresSoon(long expiresAt) =>
        expiresAt - time.GetUtcNow().ToUnixTimeMilliseconds() <= options.Value.RobotExpiryWarning.TotalMilliseconds;

    void RefuseIfLocked(string account, string address)
    {
        if (throttle.LockedFor(account, address) is { } left)
            throw Errors.Create(Code.ResourceExhausted, Reasons.TooManyFailedLogins,
                $"Too many failed logins for '{account}': try again in {Math.Ceiling(left.TotalSeconds)} s.",
                ("account", account), ("retry_after_seconds", ((int)Math.Ceiling(left.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    global::Grpc.Core.RpcException Failed(string account, string address)
    {
        throttle.Failed(account, address);
        return Access.Unauthenticated("The credentials are wrong, expired or revoked.");
    }

    static bool IsTrue(long flag) => flag != 0;
}
