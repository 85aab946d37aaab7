using BuildGrid.Core.Clients;
using BuildGrid.Gateway.Rest.V1;
using BuildGrid.Identity.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using IdentityClient = BuildGrid.Identity.V1.Identity.IdentityClient;

namespace BuildGrid.Gateway.Rest;

/// <summary>
/// BuildGrid's own REST routes of the Identity service (identity_rest.proto), each forwarded through the typed client
/// with the caller's signed identity; the domain's status and ErrorInfo reach the caller as google.rpc.Status JSON.
/// The path's names win over names in the body.
/// </summary>
public sealed class IdentityRestService(IdentityClient identity) : IdentityRest.IdentityRestBase
{
    static string PathValue(ServerCallContext context, string name, string fallback) =>
        context.GetHttpContext().Request.RouteValues.TryGetValue(name, out var value) && value is string text ? text : fallback;

    public override async Task<AuthenticatedPrincipal> GetCaller(GetCallerRequest request, ServerCallContext context) =>
        await identity.GetCallerAsync(request);

    public override async Task<User> CreateUser(CreateUserRequest request, ServerCallContext context) =>
        await identity.CreateUserAsync(request);

    public override async Task<ListUsersResponse> ListUsers(ListUsersRequest request, ServerCallContext context) =>
        await identity.ListUsersAsync(request);

    public override async Task<User> GetUser(GetUserRequest request, ServerCallContext context) =>
        await identity.GetUserAsync(request);

    public override async Task<User> UpdateUser(UpdateUserRequest request, ServerCallContext context)
    {
        request.Name = PathValue(context, "name", request.Name);
        return await identity.UpdateUserAsync(request);
    }

    public override async Task<Empty> DeleteUser(DeleteUserRequest request, ServerCallContext context) =>
        await identity.DeleteUserAsync(request);

    public override async Task<CreatedToken> CreateToken(CreateTokenRequest request, ServerCallContext context) =>
        await identity.CreateTokenAsync(request);

    public override async Task<ListTokensResponse> ListTokens(ListTokensRequest request, ServerCallContext context) =>
        await identity.ListTokensAsync(request);

    public override async Task<Empty> RevokeToken(RevokeTokenRequest request, ServerCallContext context) =>
        await identity.RevokeTokenAsync(request);

    public override async Task<CreatedRobot> CreateRobot(CreateRobotRequest request, ServerCallContext context)
    {
        request.Namespace = PathValue(context, "namespace", request.Namespace);
        return await identity.CreateRobotAsync(request);
    }

    public override async Task<ListRobotsResponse> ListRobots(ListRobotsRequest request, ServerCallContext context) =>
        await identity.ListRobotsAsync(request);

    public override async Task<Robot> GetRobot(GetRobotRequest request, ServerCallContext context) =>
        await identity.GetRobotAsync(request);

    public override async Task<Empty> DeleteRobot(DeleteRobotRequest request, ServerCallContext context) =>
        await identity.DeleteRobotAsync(request);

    public override async Task<CreatedRobot> RegenerateRobotToken(RegenerateRobotTokenRequest request, ServerCallContext context)
    {
        request.Namespace = PathValue(context, "namespace", request.Namespace);
        request.Name = PathValue(context, "name", request.Name);
        return await identity.RegenerateRobotTokenAsync(request);
    }

    public override async Task<ListRolesResponse> ListRoles(ListRolesRequest request, ServerCallContext context) =>
        await identity.ListRolesAsync(request);

    public override async Task<RoleBinding> GrantRole(GrantRoleRequest request, ServerCallContext context)
    {
        request.Namespace = PathValue(context, "namespace", request.Namespace);
        request.Principal = PathValue(context, "principal", request.Principal);
        return await identity.GrantRoleAsync(request);
    }

    public override async Task<Empty> RevokeRole(RevokeRoleRequest request, ServerCallContext context) =>
        await identity.RevokeRoleAsync(request);

    public override async Task<ListAuditEntriesResponse> ListAuditEntries(ListAuditEntriesRequest request, ServerCallContext context) =>
        await identity.ListAuditEntriesAsync(request);
}
