using System.Buffers.Text;
using System.Globalization;
using System.Text;
using BuildGrid.Core.Clients;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Identity;
using BuildGrid.Events.V1;
using BuildGrid.Identity.Domain;
using BuildGrid.Identity.Storage;
using BuildGrid.Identity.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using CoreRole = BuildGrid.Core.Identity.Role;
using Principal = BuildGrid.Core.Identity.Principal;
using ProtoKind = BuildGrid.Identity.V1.PrincipalKind;
using Role = BuildGrid.Identity.V1.Role;

namespace BuildGrid.Identity.Grpc;

/// <summary>
/// The Identity gRPC API: checks who may call what (<see cref="Access"/>), validates, then calls the stores. Every write
/// is audited with the caller, the method and what it touched — never a secret.
/// </summary>
public sealed class IdentityService(IdentityStore store, AuditStore audit, Authenticator authenticator, PasswordHasher<UserRow> hasher,
    IOptions<IdentityOptions> options, TimeProvider time) : V1.Identity.IdentityBase
{
    const int DefaultPageSize = 50;
    const int MaxUserPage = 100;
    const int MaxAuditPage = 200;

    // The client's address: what the calling BuildGrid process signed into the call's identity, else the connection's own.
    public override Task<AuthenticatedPrincipal> Authenticate(AuthenticateRequest request, ServerCallContext context) =>
        authenticator.AuthenticateAsync(request.Authorization, Caller.ClientAddressOf(context), context.CancellationToken);

    public override Task<AuthenticatedPrincipal> CheckPrincipal(CheckPrincipalRequest request, ServerCallContext context)
    {
        var caller = Access.PrincipalOf(context);
        if (!caller.IsAuthenticated)
            throw Access.Unauthenticated("CheckPrincipal needs a BuildGrid service's or an admin's credentials.");
        if (caller.Kind != Core.Identity.PrincipalKind.Service && !caller.IsAdmin)
            throw Access.Denied("Only BuildGrid services and admins may check another principal.");
        if (string.IsNullOrEmpty(request.Name))
            throw Errors.Invalid(Reasons.InvalidArgument, "name", "name is required");
        return authenticator.CheckAsync(request.Name, request.Kind, request.CredentialId, context.CancellationToken);
    }

    public override async Task<AuthenticatedPrincipal> GetCaller(GetCallerRequest request, ServerCallContext context)
    {
        var caller = Access.PrincipalOf(context);
        if (!caller.IsAuthenticated)
            throw Access.Unauthenticated("Who you are needs credentials.");
        var answer = new AuthenticatedPrincipal { Name = caller.Name, Kind = (ProtoKind)(int)caller.Kind, Admin = caller.IsAdmin };
        foreach (var (ns, role) in caller.Roles)
            answer.Roles[ns] = IdentityRules.ToProto(role);
        if (caller.Kind is Core.Identity.PrincipalKind.User or Core.Identity.PrincipalKind.Local
            && await store.FindUserAsync(caller.Name, context.CancellationToken) is { } user)
            answer.Email = user.Email;
        if (caller.Kind == Core.Identity.PrincipalKind.Robot && IdentityRules.TrySplitRobot(caller.Name, out var robotNs, out var robotName)
            && await store.FindRobotAsync(robotNs, robotName, context.CancellationToken) is { ExpiresAt: { } lapse })
        {
            answer.CredentialExpireTime = ToTimestamp(lapse);
            answer.ExpiresSoon = authenticator.ExpiresSoon(lapse);
        }
        return answer;
    }

    // ---- users

    public override async Task<User> CreateUser(CreateUserRequest request, ServerCallContext context)
    {
        var caller = Access.RequireAdmin(context);
        IdentityRules.ValidateUser(request.Name);
        ValidateEmail(request.Email);
        if (request.Password.Length > 0)
            IdentityRules.ValidatePassword(request.Password);
        var now = Now();
        var row = new UserRow
        {
            Name = request.Name, Email = request.Email, IsAdmin = request.Admin ? 1 : 0, CreatedAt = now, UpdatedAt = now,
        };
        row.PasswordHash = request.Password.Length > 0 ? hasher.HashPassword(row, request.Password) : null;
        await store.InsertUserAsync(row, Audit(context, caller, "", $"user:{row.Name}"), context.CancellationToken);
        return ToProto(row);
    }

    public override async Task<User> GetUser(GetUserRequest request, ServerCallContext context)
    {
        var caller = Access.PrincipalOf(context);
        if (caller.Name != request.Name || caller.Kind is not (Core.Identity.PrincipalKind.User or Core.Identity.PrincipalKind.Local))
            Access.RequireAdmin(context);
        IdentityRules.ValidateUser(request.Name);
        var row = await store.FindUserAsync(request.Name, context.CancellationToken) ?? throw Errors.NotFound(Reasons.UserNotFound, "user", request.Name);
        return await WithRolesAsync(ToProto(row), context.CancellationToken);
    }

    public override async Task<ListUsersResponse> ListUsers(ListUsersRequest request, ServerCallContext context)
    {
        Access.RequireAdmin(context);
        var size = PageSize(request.PageSize, MaxUserPage);
        var after = request.PageToken.Length == 0 ? "" : DecodeToken(request.PageToken);
        var rows = await store.ListUsersAsync(after, size + 1, request.IncludeDisabled, context.CancellationToken);
        var response = new ListUsersResponse { Users = { rows.Take(size).Select(ToProto) } };
        // Each user with its roles, as GetUser answers it.
        var users = response.Users.ToDictionary(u => u.Name, StringComparer.Ordinal);
        foreach (var binding in await store.RolesOfAsync(users.Keys, context.CancellationToken))
            if (users.TryGetValue(binding.Principal, out var user))
                user.Roles[binding.Namespace] = (Role)binding.Role;
        if (rows.Count > size)
            response.NextPageToken = EncodeToken(rows[size - 1].Name);
        return response;
    }

    public override async Task<User> UpdateUser(UpdateUserRequest request, ServerCallContext context)
    {
        var caller = Access.PrincipalOf(context);
        var self = caller.Name == request.Name && caller.Kind is Core.Identity.PrincipalKind.User or Core.Identity.PrincipalKind.Local;
        // A user may change its own password and email; everything else (and anyone else) is the admins'.
        if (!self || request.HasAdmin || request.HasDisabled)
            Access.RequireAdmin(context);
        IdentityRules.ValidateUser(request.Name);
        if (request.HasPassword)
            IdentityRules.ValidatePassword(request.Password);
        if (request.HasEmail)
            ValidateEmail(request.Email);
        if (request.Name == IdentityRules.AdminUser && (request is { HasAdmin: true, Admin: false } || request is { HasDisabled: true, Disabled: true }))
            throw Errors.Invalid(Reasons.InvalidArgument, "name", "the bootstrap admin stays an enabled admin");
        var row = await store.UpdateUserAsync(request.Name, row =>
        {
            if (request.HasPassword) { row.PasswordHash = hasher.HashPassword(row, request.Password); }
            if (request.HasAdmin) { row.IsAdmin = request.Admin ? 1 : 0; }
            if (request.HasDisabled) { row.Disabled = request.Disabled ? 1 : 0; }
            if (request.HasEmail) { row.Email = request.Email; }
            row.UpdatedAt = Now();
        }, Audit(context, caller, "", $"user:{request.Name}"), context.CancellationToken);
        return await WithRolesAsync(ToProto(row), context.CancellationToken);
    }

    public override async Task<Empty> DeleteUser(DeleteUserRequest request, ServerCallContext context)
    {
        var caller = Access.RequireAdmin(context);
        IdentityRules.ValidateUser(request.Name);
        if (request.Name == IdentityRules.AdminUser)
            throw Errors.Invalid(Reasons.InvalidArgument, "name", "the bootstrap admin cannot be deleted");
        await store.DeleteUserAsync(request.Name, Audit(context, caller, "", $"user:{request.Name}"), context.CancellationToken);
        return new Empty();
    }

    // ---- API tokens

    public override async Task<CreatedToken> CreateToken(CreateTokenRequest request, ServerCallContext context)
    {
        var caller = Access.PrincipalOf(context);
        var user = TokenOwner(context, caller, request.User);
        if (request.Name.Trim().Length is 0 or > 128)
            throw Errors.Invalid(Reasons.InvalidArgument, "name", "name is required (at most 128 characters)");
        var now = time.GetUtcNow();
        if (request.ExpireTime is { } expiry && TimeOf(expiry, "expire_time") <= now)
            throw Errors.Invalid(Reasons.InvalidArgument, "expire_time", "expire_time must be in the future");
        var secret = Secrets.NewToken(Secrets.TokenPrefix);
        var row = new TokenRow
        {
            Id = Guid.CreateVersion7().ToString("N"), UserName = user, Name = request.Name.Trim(), TokenHash = Secrets.HashToken(secret),
            CreatedAt = now.ToUnixTimeMilliseconds(), ExpiresAt = request.ExpireTime is null ? null : TimeOf(request.ExpireTime, "expire_time").ToUnixTimeMilliseconds(),
        };
        await store.InsertTokenAsync(row, Audit(context, caller, "", $"token:{row.Id} of {user}"), context.CancellationToken);
        return new CreatedToken { Token = ToProto(row), Secret = secret };
    }

    public override async Task<ListTokensResponse> ListTokens(ListTokensRequest request, ServerCallContext context)
    {
        var user = TokenOwner(context, Access.PrincipalOf(context), request.User);
        var rows = await store.ListTokensAsync(user, context.CancellationToken);
        return new ListTokensResponse { Tokens = { rows.Select(ToProto) } };
    }

    public override async Task<Empty> RevokeToken(RevokeTokenRequest request, ServerCallContext context)
    {
        var caller = Access.PrincipalOf(context);
        if (!caller.IsAuthenticated)
            throw Access.Unauthenticated("Revoking a token needs credentials.");
        var row = request.Id.Length is > 0 and <= 64 ? await store.FindTokenAsync(request.Id, context.CancellationToken) : null;
        // Someone else's token is "not found" to a non-admin: token ids are not for probing.
        if (row is null || row.UserName != caller.Name && !caller.IsAdmin)
            throw Errors.NotFound(Reasons.TokenNotFound, "token", request.Id);
        await store.DeleteTokenAsync(row.Id, Audit(context, caller, "", $"token:{row.Id} of {row.UserName}"), context.CancellationToken);
        return new Empty();
    }

    /// <summary>Whose tokens a call is about: the calling user's, or (admins only) the named user's.</summary>
    static string TokenOwner(ServerCallContext context, Principal caller, string requested)
    {
        if (requested.Length > 0 && requested != caller.Name)
        {
            Access.RequireAdmin(context);
            IdentityRules.ValidateUser(requested, "user");
            return requested;
        }
        if (caller.Kind is not (Core.Identity.PrincipalKind.User or Core.Identity.PrincipalKind.Local))
            throw caller.IsAuthenticated ? Access.Denied("Only users have API tokens.") : Access.Unauthenticated("API tokens need a user's credentials.");
        return caller.Name;
    }

    // ---- robots

    public override async Task<CreatedRobot> CreateRobot(CreateRobotRequest request, ServerCallContext context)
    {
        var caller = RequireOwner(context, request.Namespace);
        IdentityRules.ValidateRobot(request.Name);
        if (request.Description.Length > 1000)
            throw Errors.Invalid(Reasons.InvalidArgument, "description", "description is longer than 1000 characters");
        var role = request.Role == Role.Unspecified ? Role.Developer : request.Role;
        if (role is < Role.Guest or > Role.Owner)
            throw Errors.Invalid(Reasons.InvalidArgument, "role", "role must be guest, developer or owner");
        var now = time.GetUtcNow();
        var secret = Secrets.NewToken(Secrets.RobotTokenPrefix);
        var row = new RobotRow
        {
            Namespace = request.Namespace, Name = request.Name, Description = request.Description, TokenHash = Secrets.HashToken(secret),
            CreatedAt = now.ToUnixTimeMilliseconds(), ExpiresAt = Expiry(request.ExpireTime, now),
        };
        await store.InsertRobotAsync(row, (int)role, Audit(context, caller, row.Namespace, $"robot:{row.Account}"), context.CancellationToken);
        return new CreatedRobot { Robot = ToProto(row, role), Token = secret };
    }

    public override async Task<Robot> GetRobot(GetRobotRequest request, ServerCallContext context)
    {
        RequireOwner(context, request.Namespace);
        IdentityRules.ValidateRobot(request.Name);
        var row = await store.FindRobotAsync(request.Namespace, request.Name, context.CancellationToken)
            ?? throw Errors.NotFound(Reasons.RobotNotFound, "robot", IdentityRules.RobotAccount(request.Namespace, request.Name));
        return ToProto(row, await RoleOfAsync(row, context.CancellationToken));
    }

    public override async Task<ListRobotsResponse> ListRobots(ListRobotsRequest request, ServerCallContext context)
    {
        RequireOwner(context, request.Namespace);
        var bindings = (await store.ListBindingsAsync(request.Namespace, context.CancellationToken)).ToDictionary(b => b.Principal, b => (Role)b.Role);
        var rows = await store.ListRobotsAsync(request.Namespace, context.CancellationToken);
        return new ListRobotsResponse { Robots = { rows.Select(r => ToProto(r, bindings.GetValueOrDefault(r.Account))) } };
    }

    public override async Task<Empty> DeleteRobot(DeleteRobotRequest request, ServerCallContext context)
    {
        var caller = RequireOwner(context, request.Namespace);
        IdentityRules.ValidateRobot(request.Name);
        var account = IdentityRules.RobotAccount(request.Namespace, request.Name);
        await store.DeleteRobotAsync(request.Namespace, request.Name, Audit(context, caller, request.Namespace, $"robot:{account}"), context.CancellationToken);
        return new Empty();
    }

    public override async Task<CreatedRobot> RegenerateRobotToken(RegenerateRobotTokenRequest request, ServerCallContext context)
    {
        var caller = RequireOwner(context, request.Namespace);
        IdentityRules.ValidateRobot(request.Name);
        var account = IdentityRules.RobotAccount(request.Namespace, request.Name);
        var secret = Secrets.NewToken(Secrets.RobotTokenPrefix);
        var row = await store.ReplaceRobotTokenAsync(request.Namespace, request.Name, Secrets.HashToken(secret), Expiry(request.ExpireTime, time.GetUtcNow()),
            Audit(context, caller, request.Namespace, $"robot:{account}"), context.CancellationToken);
        return new CreatedRobot { Robot = ToProto(row, await RoleOfAsync(row, context.CancellationToken)), Token = secret };
    }

    long Expiry(Timestamp? requested, DateTimeOffset now)
    {
        if (requested is null)
            return now.Add(options.Value.RobotTokenLifetime).ToUnixTimeMilliseconds();
        var expiry = TimeOf(requested, "expire_time");
        if (expiry <= now)
            throw Errors.Invalid(Reasons.InvalidArgument, "expire_time", "expire_time must be in the future");
        return expiry.ToUnixTimeMilliseconds();
    }

    /// <summary>A request's timestamp, or INVALID_ARGUMENT when it is outside what a Timestamp may hold (years 1–9999, nanos 0–999,999,999).</summary>
    static DateTimeOffset TimeOf(Timestamp timestamp, string field)
    {
        const long MinSeconds = -62_135_596_800, MaxSeconds = 253_402_300_799;
        if (timestamp.Seconds is < MinSeconds or > MaxSeconds || timestamp.Nanos is < 0 or > 999_999_999)
            throw Errors.Invalid(Reasons.InvalidArgument, field, $"{field} is not a valid timestamp");
        return timestamp.ToDateTimeOffset();
    }

    async Task<Role> RoleOfAsync(RobotRow row, CancellationToken cancellationToken) =>
        (await store.RolesOfAsync(row.Account, cancellationToken)).Where(b => b.Namespace == row.Namespace).Select(b => (Role)b.Role).FirstOrDefault();

    // ---- roles

    public override async Task<RoleBinding> GrantRole(GrantRoleRequest request, ServerCallContext context)
    {
        var caller = RequireOwner(context, request.Namespace);
        if (request.Role is < Role.Guest or > Role.Owner)
            throw Errors.Invalid(Reasons.InvalidArgument, "role", "role must be guest, developer or owner");
        var isRobot = ValidatePrincipal(request.Namespace, request.Principal);
        await store.GrantAsync(request.Namespace, request.Principal, isRobot, (int)request.Role, Now(),
            Audit(context, caller, request.Namespace, $"role:{request.Principal}={request.Role.ToString().ToLowerInvariant()}"), context.CancellationToken);
        return new RoleBinding { Namespace = request.Namespace, Principal = request.Principal, Role = request.Role };
    }

    public override async Task<Empty> RevokeRole(RevokeRoleRequest request, ServerCallContext context)
    {
        var caller = RequireOwner(context, request.Namespace);
        ValidatePrincipal(request.Namespace, request.Principal);
        await store.RevokeAsync(request.Namespace, request.Principal, Audit(context, caller, request.Namespace, $"role:{request.Principal}"),
            context.CancellationToken);
        return new Empty();
    }

    public override async Task<ListRolesResponse> ListRoles(ListRolesRequest request, ServerCallContext context)
    {
        IdentityRules.ValidateNamespace(request.Namespace);
        Access.Require(context, request.Namespace, CoreRole.Guest);
        var rows = await store.ListBindingsAsync(request.Namespace, context.CancellationToken);
        return new ListRolesResponse
        {
            Bindings = { rows.Select(b => new RoleBinding { Namespace = b.Namespace, Principal = b.Principal, Role = (Role)b.Role }) },
        };
    }

    /// <summary>Validates a user name or a robot of this namespace (robots' roles are confined to their own); true for a robot.</summary>
    static bool ValidatePrincipal(string @namespace, string principal)
    {
        if (!IdentityRules.TrySplitRobot(principal, out var robotNs, out var robotName))
        {
            IdentityRules.ValidateUser(principal, "principal");
            return false;
        }
        IdentityRules.ValidateRobot(robotName, "principal");
        if (robotNs != @namespace)
            throw Errors.Invalid(Reasons.InvalidArgument, "principal", $"robot '{principal}' belongs to '{robotNs}' and can hold roles only there");
        return true;
    }

    static Principal RequireOwner(ServerCallContext context, string @namespace)
    {
        IdentityRules.ValidateNamespace(@namespace);
        return Access.Require(context, @namespace, CoreRole.Owner);
    }

    // ---- audit log

    public override async Task<ListAuditEntriesResponse> ListAuditEntries(ListAuditEntriesRequest request, ServerCallContext context)
    {
        string? ns = null;
        if (request.Namespace.Length > 0)
        {
            IdentityRules.ValidateNamespace(request.Namespace);
            ns = request.Namespace;
        }
        if (ns is null)
            Access.RequireAdmin(context);
        else
            Access.Require(context, ns, CoreRole.Owner);
        if (request.Principal.Length > 200)
            throw Errors.Invalid(Reasons.InvalidArgument, "principal", "principal is longer than 200 characters");
        var from = request.StartTime is null ? (long?)null : TimeOf(request.StartTime, "start_time").ToUnixTimeMilliseconds();
        var to = request.EndTime is null ? (long?)null : TimeOf(request.EndTime, "end_time").ToUnixTimeMilliseconds();
        if (from is not null && to is not null && from > to)
            throw Errors.Invalid(Reasons.InvalidArgument, "start_time", "start_time is after end_time");
        (long, long)? before = null;
        if (request.PageToken.Length > 0)
        {
            var parts = DecodeToken(request.PageToken).Split(':');
            if (parts.Length != 2 || !long.TryParse(parts[0], CultureInfo.InvariantCulture, out var t) || !long.TryParse(parts[1], CultureInfo.InvariantCulture, out var s))
                throw Errors.Invalid(Reasons.InvalidArgument, "page_token", "page_token is not one this service gave");
            before = (t, s);
        }
        var size = PageSize(request.PageSize, MaxAuditPage);
        var rows = await audit.ListAsync(ns, request.Principal.Length > 0 ? request.Principal : null, from, to, before, size + 1, context.CancellationToken);
        var response = new ListAuditEntriesResponse { Entries = { rows.Take(size).Select(r => r.ToProto()) } };
        if (rows.Count > size)
            response.NextPageToken = EncodeToken(string.Create(CultureInfo.InvariantCulture, $"{rows[size - 1].Time}:{rows[size - 1].Seq}"));
        return response;
    }

    // ---- helpers

    /// <summary>The audit entry of one of Identity's own writes: who, which method, what — never a secret.</summary>
    AuditRecorded Audit(ServerCallContext context, Principal caller, string @namespace, string resource)
    {
        return new AuditRecorded
        {
            Id = Guid.CreateVersion7().ToString(), Time = Timestamp.FromDateTimeOffset(time.GetUtcNow()), Principal = caller.Name,
            PrincipalKind = caller.Kind.ToString().ToLowerInvariant(), Service = IdentityExtensions.AppId, Action = context.Method,
            Namespace = @namespace, Resource = resource, RemoteIp = Caller.ClientAddressOf(context) ?? "",
            RequestId = context.RequestHeaders.GetValue(Caller.RequestIdHeader) is { Length: <= 128 } id ? id : "",
        };
    }

    async Task<User> WithRolesAsync(User user, CancellationToken cancellationToken)
    {
        foreach (var binding in await store.RolesOfAsync(user.Name, cancellationToken))
            user.Roles[binding.Namespace] = (Role)binding.Role;
        return user;
    }

    static User ToProto(UserRow row) => new()
    {
        Name = row.Name, Email = row.Email, Admin = row.IsAdmin != 0, Disabled = row.Disabled != 0,
        CreateTime = ToTimestamp(row.CreatedAt), UpdateTime = ToTimestamp(row.UpdatedAt),
    };

    static Token ToProto(TokenRow row)
    {
        var token = new Token { Id = row.Id, User = row.UserName, Name = row.Name, CreateTime = ToTimestamp(row.CreatedAt) };
        if (row.ExpiresAt is { } expires) token.ExpireTime = ToTimestamp(expires);
        if (row.LastUsedAt is { } used) token.LastUsedTime = ToTimestamp(used);
        return token;
    }

    Robot ToProto(RobotRow row, Role role)
    {
        var robot = new Robot
        {
            Namespace = row.Namespace, Name = row.Name, FullName = row.Account, Description = row.Description, CreateTime = ToTimestamp(row.CreatedAt), Role = role,
        };
        if (row.ExpiresAt is { } expires)
        {
            robot.ExpireTime = ToTimestamp(expires);
            robot.ExpiresSoon = authenticator.ExpiresSoon(expires);
        }
        if (row.LastUsedAt is { } used) robot.LastUsedTime = ToTimestamp(used);
        return robot;
    }

    static void ValidateEmail(string email)
    {
        if (email.Length > 256 || email.Length > 0 && (!email.Contains('@') || email.Any(char.IsWhiteSpace)))
            throw Errors.Invalid(Reasons.InvalidArgument, "email", "email is not an address");
    }

    static int PageSize(int requested, int max) =>
        requested < 0 ? throw Errors.Invalid(Reasons.InvalidArgument, "page_size", "page_size must be 1 or more")
        : requested == 0 ? Math.Min(DefaultPageSize, max) : Math.Min(requested, max);

    static string EncodeToken(string value) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(value));

    static string DecodeToken(string token)
    {
        try
        {
            return Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token));
        }
        catch (FormatException)
        {
            throw Errors.Invalid(Reasons.InvalidArgument, "page_token", "page_token is not one this service gave");
        }
    }

    long Now() => time.GetUtcNow().ToUnixTimeMilliseconds();

    static Timestamp ToTimestamp(long unixMs) => Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(unixMs));
}
