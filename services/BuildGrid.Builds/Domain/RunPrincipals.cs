using BuildGrid.Builds.V1;
using BuildGrid.Core.Identity;

namespace BuildGrid.Builds.Domain;

/// <summary>The principal who queued a run, kept in its spec, and back: what the worker's pull token is issued to.</summary>
public static class RunPrincipals
{
    public static RunPrincipal From(Principal principal)
    {
        var stored = new RunPrincipal { Name = principal.Name, Kind = principal.Kind.ToString(), Admin = principal.IsAdmin };
        foreach (var (name, role) in principal.Roles)
            stored.Roles[name] = role.ToString();
        return stored;
    }

    /// <summary>
    /// The stored principal; a run stored before principals were recorded (or one whose record cannot be read) counts
    /// as anonymous: it may pull public images only.
    /// </summary>
    public static Principal ToPrincipal(RunPrincipal? stored)
    {
        if (stored is null || stored.Name.Length == 0 || !Enum.TryParse<PrincipalKind>(stored.Kind, out var kind))
            return Principal.Anonymous;
        var roles = new Dictionary<string, Role>(StringComparer.Ordinal);
        foreach (var (name, role) in stored.Roles)
            if (Enum.TryParse<Role>(role, out var parsed))
                roles[name] = parsed;
        return new Principal(stored.Name, kind, stored.Admin, roles);
    }
}
