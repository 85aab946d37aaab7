using System.Globalization;
using System.Text;
using BuildGrid.Core.Clients;
using BuildGrid.Gateway.Quay.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Iv1 = BuildGrid.Identity.V1;

namespace BuildGrid.Gateway.Dialects.Quay;

/// <summary>
/// Quay's user, superuser, organization-robot and log routes over the Identity service (quay_identity.proto). A Quay
/// organization is a BuildGrid namespace. Errors are gRPC statuses here; <see cref="QuayExtensions"/> writes them as
/// Quay's error object.
/// </summary>
public sealed class QuayIdentityService(Iv1.Identity.IdentityClient identity, TimeProvider time) : QuayIdentity.QuayIdentityBase
{
    const string QuayTime = "ddd, dd MMM yyyy HH:mm:ss '-0000'";
    const long TagExpirationSeconds = 1209600;

    public override async Task<QuayCurrentUser> GetCurrentUser(Empty request, ServerCallContext context)
    {
        var caller = await identity.GetCallerAsync(new Iv1.GetCallerRequest());
        var user = new QuayCurrentUser
        {
            Anonymous = false, Username = caller.Name, Email = caller.Email, Verified = true, SuperUser = caller.Admin, CanCreateRepo = true, IsMe = true,
            TagExpirationS = TagExpirationSeconds, Kind = caller.Kind == Iv1.PrincipalKind.Robot ? "robot" : "user",
        };
        foreach (var (ns, role) in caller.Roles.OrderBy(r => r.Key, StringComparer.Ordinal))
            user.Organizations.Add(new QuayOrganizationRef
            {
                Name = ns, IsOrgAdmin = role == Iv1.Role.Owner, CanCreateRepo = role >= Iv1.Role.Developer, Public = false,
                Role = RoleName(role),
            });
        return user;
    }

    public override async Task<ListAllUsersResponse> ListAllUsers(ListAllUsersRequest request, ServerCallContext context)
    {
        if (request.Limit is < 0 or > 100)
            throw Bad("limit must be between 1 and 100");
        var result = await identity.ListUsersAsync(new Iv1.ListUsersRequest
        {
            PageSize = request.Limit, PageToken = request.NextPage, IncludeDisabled = !request.HasDisabled || request.Disabled,
        });
        var response = new ListAllUsersResponse();
        foreach (var u in result.Users)
            response.Users.Add(new QuayUserItem
            {
                Kind = "user", Name = u.Name, Username = u.Name, Email = u.Email, Verified = true, SuperUser = u.Admin, Enabled = !u.Disabled,
            });
        if (result.NextPageToken.Length > 0)
            response.NextPage = result.NextPageToken;
        return response;
    }

    public override async Task<CreatedInstallUser> CreateInstallUser(CreateInstallUserRequest request, ServerCallContext context)
    {
        if (request.Username.Length == 0)
            throw Bad("'username' is a required property");
        var generated = request.Password.Length == 0 ? System.Buffers.Text.Base64Url.EncodeToString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(18)) : null;
        try
        {
            await identity.CreateUserAsync(new Iv1.CreateUserRequest
            {
                Name = request.Username, Email = request.Email, Password = generated ?? request.Password,
            });
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.AlreadyExists)
        {
            throw Bad("Username is already in use");
        }
        SetStatus(context, StatusCodes.Status201Created);
        var created = new CreatedInstallUser { Username = request.Username, Email = request.Email };
        if (generated is not null)
            created.Password = generated;
        return created;
    }

    public override async Task<Empty> DeleteInstallUser(InstallUserRef request, ServerCallContext context)
    {
        await identity.DeleteUserAsync(new Iv1.DeleteUserRequest { Name = request.Username });
        return NoContent(context);
    }

    public override async Task<ListOrgRobotsResponse> ListOrgRobots(ListOrgRobotsRequest request, ServerCallContext context)
    {
        if (request.Limit < 0)
            throw Bad("limit must be 1 or more");
        var result = await identity.ListRobotsAsync(new Iv1.ListRobotsRequest { Namespace = request.Orgname });
        var robots = result.Robots.Select(r => ToQuay(r, null));
        return new ListOrgRobotsResponse { Robots = { request.Limit > 0 ? robots.Take(request.Limit) : robots } };
    }

    public override async Task<QuayRobot> GetOrgRobot(OrgRobotRef request, ServerCallContext context) =>
        ToQuay(await identity.GetRobotAsync(new Iv1.GetRobotRequest { Namespace = request.Orgname, Name = request.RobotShortname }), null);

    public override async Task<QuayRobot> CreateOrgRobot(CreateOrgRobotRequest request, ServerCallContext context)
    {
        Iv1.CreatedRobot created;
        try
        {
            created = await identity.CreateRobotAsync(new Iv1.CreateRobotRequest
            {
                Namespace = request.Orgname, Name = request.RobotShortname, Description = request.Description,
            });
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.AlreadyExists)
        {
            throw Bad($"Existing robot with name: {request.Orgname}+{request.RobotShortname}");
        }
        SetStatus(context, StatusCodes.Status201Created);
        return ToQuay(created.Robot, created.Token, request.UnstructuredMetadata);
    }

    public override async Task<Empty> DeleteOrgRobot(OrgRobotRef request, ServerCallContext context)
    {
        await identity.DeleteRobotAsync(new Iv1.DeleteRobotRequest { Namespace = request.Orgname, Name = request.RobotShortname });
        return NoContent(context);
    }

    public override async Task<QuayRobot> RegenerateOrgRobotToken(OrgRobotRef request, ServerCallContext context)
    {
        var created = await identity.RegenerateRobotTokenAsync(new Iv1.RegenerateRobotTokenRequest
        {
            Namespace = request.Orgname, Name = request.RobotShortname,
        });
        return ToQuay(created.Robot, created.Token);
    }

    public override Task<QuayLogs> ListAllLogs(ListLogsRequest request, ServerCallContext context) => LogsAsync(request, null, context);

    public override Task<QuayLogs> ListOrgLogs(ListLogsRequest request, ServerCallContext context) => LogsAsync(request, request.Orgname, context);

    async Task<QuayLogs> LogsAsync(ListLogsRequest request, string? @namespace, ServerCallContext context)
    {
        // Quay's window: whole UTC days from starttime through endtime; by default the last day.
        var now = time.GetUtcNow();
        var end = request.Endtime.Length > 0 ? Day(request.Endtime, "endtime").AddDays(1) : now;
        var start = request.Starttime.Length > 0 ? Day(request.Starttime, "starttime") : end.AddDays(-1);
        if (start > end)
            throw Bad("starttime is after endtime");
        var result = await identity.ListAuditEntriesAsync(new Iv1.ListAuditEntriesRequest
        {
            Namespace = @namespace ?? "", Principal = request.Performer, StartTime = Timestamp.FromDateTimeOffset(start),
            EndTime = Timestamp.FromDateTimeOffset(end), PageToken = request.NextPage, PageSize = 20,
        });
        var logs = new QuayLogs { StartTime = Format(start), EndTime = Format(end) };
        foreach (var e in result.Entries)
        {
            var isRobot = e.PrincipalKind == "robot";
            var metadata = new Struct
            {
                Fields =
                {
                    ["service"] = Value.ForString(e.Service), ["action"] = Value.ForString(e.Action), ["resource"] = Value.ForString(e.Resource),
                    ["request_id"] = Value.ForString(e.RequestId),
                },
            };
            if (e.Namespace.Length > 0)
                metadata.Fields["namespace"] = Value.ForString(e.Namespace);
            logs.Logs.Add(new QuayLog
            {
                Kind = Kind(e.Action), Metadata = metadata, Ip = e.RemoteIp, Datetime = Format(e.Time.ToDateTimeOffset()),
                Performer = new QuayPerformer { Kind = isRobot ? "user" : e.PrincipalKind == "service" ? "service" : "user", Name = e.Principal, IsRobot = isRobot },
                Namespace = e.Namespace.Length > 0 ? new QuayLogNamespace { Kind = "org", Name = e.Namespace } : null,
            });
        }
        if (result.NextPageToken.Length > 0)
            logs.NextPage = result.NextPageToken;
        return logs;
    }

    /// <summary>Quay's log kinds are snake_case verbs (create_robot, delete_robot ...): the method name, so spelled.</summary>
    static string Kind(string action)
    {
        var name = action[(action.LastIndexOf('/') + 1)..];
        var kind = new StringBuilder(name.Length + 8);
        foreach (var c in name)
        {
            if (char.IsUpper(c) && kind.Length > 0)
                kind.Append('_');
            kind.Append(c == '.' || c == '-' ? '_' : char.ToLowerInvariant(c));
        }
        return kind.ToString();
    }

    static DateTimeOffset Day(string value, string name) =>
        DateTime.TryParseExact(value, ["MM/dd/yyyy", "M/d/yyyy"], CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var day)
            ? new DateTimeOffset(day, TimeSpan.Zero)
            : throw Bad($"Invalid {name}: expected %m/%d/%Y");

    static QuayRobot ToQuay(Iv1.Robot robot, string? token, Struct? metadata = null)
    {
        var quay = new QuayRobot
        {
            Name = robot.FullName, Created = Format(robot.CreateTime.ToDateTimeOffset()), Description = robot.Description,
            LastAccessed = robot.LastUsedTime is { } used ? Value.ForString(Format(used.ToDateTimeOffset())) : Value.ForNull(),
            UnstructuredMetadata = metadata ?? new Struct(), ExpiresSoon = robot.ExpiresSoon,
            Expiration = robot.ExpireTime?.Seconds ?? 0,
        };
        if (token is not null)
            quay.Token = token;
        return quay;
    }

    static string RoleName(Iv1.Role role) => role switch
    {
        Iv1.Role.Guest => "guest",
        Iv1.Role.Developer => "developer",
        Iv1.Role.Owner => "owner",
        _ => "",
    };

    static string Format(DateTimeOffset time) => time.UtcDateTime.ToString(QuayTime, CultureInfo.InvariantCulture);

    static void SetStatus(ServerCallContext context, int status) => QuayService.SetStatus(context, status);

    static Empty NoContent(ServerCallContext context) => QuayService.NoContent(context);

    static RpcException Bad(string message) => DialectErrors.Raise(StatusCode.InvalidArgument, Core.Errors.Reasons.InvalidArgument, message);
}
