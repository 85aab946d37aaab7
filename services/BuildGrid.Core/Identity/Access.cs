using BuildGrid.Core.Errors;
using Google.Rpc;
using Grpc.Core;

namespace BuildGrid.Core.Identity;

/// <summary>What services ask of the caller of a call: who it is, whether it may do this, and what to record as its operator.</summary>
public static class Access
{
    public static Principal PrincipalOf(ServerCallContext context) =>
        context.UserState.TryGetValue(CallIdentity.Key, out var value) && value is CallIdentity identity
            ? identity.Principal
            : throw new InvalidOperationException("No principal on this call: PrincipalInterceptor is not registered (AddBuildGridDefaults registers it).");

    /// <summary>The resolved identity of a call, or null outside a resolved call.</summary>
    internal static CallIdentity? IdentityOf(ServerCallContext context) =>
        context.UserState.TryGetValue(CallIdentity.Key, out var value) ? value as CallIdentity : null;

    /// <summary>Throws UNAUTHENTICATED (no credentials) or PERMISSION_DENIED unless the caller holds <paramref name="role"/> in the namespace.</summary>
    public static Principal Require(ServerCallContext context, string @namespace, Role role)
    {
        var principal = PrincipalOf(context);
        Events.AuditNotes.Namespace(context, @namespace, role);
        if (principal.Can(@namespace, role))
            return principal;
        throw principal.IsAuthenticated
            ? Denied($"{principal.Name} needs the {role.ToString().ToLowerInvariant()} role in '{@namespace}'.")
            : Unauthenticated($"Reading or changing '{@namespace}' needs credentials.");
    }

    /// <summary>
    /// As <see cref="Require"/>, for something that exists in the namespace — but a caller who may not even read there
    /// gets <paramref name="notFound"/>, the very answer for something missing, so that existence leaks to no one.
    /// </summary>
    public static Principal RequireVisible(ServerCallContext context, string @namespace, Role role, Func<RpcException> notFound)
    {
        var principal = PrincipalOf(context);
        if (!principal.Can(@namespace, Role.Guest))
        {
            Events.AuditNotes.Namespace(context, @namespace, role);
            throw notFound();
        }
        return Require(context, @namespace, role);
    }

    public static Principal RequireAdmin(ServerCallContext context)
    {
        var principal = PrincipalOf(context);
        if (principal.IsAdmin)
            return principal;
        throw principal.IsAuthenticated ? Denied($"{principal.Name} is not an administrator.") : Unauthenticated("This call needs an administrator's credentials.");
    }

    /// <summary>The operator a write records: the authenticated identity (see <see cref="Principal.OperatorName"/>).</summary>
    public static string Operator(ServerCallContext context, string? claimed) => PrincipalOf(context).OperatorName(claimed);

    public static RpcException Unauthenticated(string message) =>
        Errors.Errors.Create(Code.Unauthenticated, Reasons.Unauthenticated, message);

    /// <summary>The <c>retry_after_seconds</c> a RESOURCE_EXHAUSTED refusal names (login throttle, password-check bound), if any.</summary>
    public static int? RetryAfterSeconds(RpcException exception) =>
        exception.Info()?.Metadata.TryGetValue("retry_after_seconds", out var wait) == true
        && int.TryParse(wait, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds) ? seconds : null;

    public static RpcException Denied(string message) =>
        Errors.Errors.Create(Code.PermissionDenied, Reasons.PermissionDenied, message);
}
