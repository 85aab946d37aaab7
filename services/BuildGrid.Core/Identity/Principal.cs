namespace BuildGrid.Core.Identity;

/// <summary>What a principal may do in one namespace (an image-market cluster, a Harbor project, a Quay organization).</summary>
public enum Role
{
    None = 0,
    /// <summary>Reads and pulls.</summary>
    Guest = 1,
    /// <summary>Also writes: pushes, builds, creates and edits.</summary>
    Developer = 2,
    /// <summary>Also deletes and manages members, robots and visibility.</summary>
    Owner = 3,
}

public enum PrincipalKind
{
    /// <summary>No credentials, with an admin password set: public reads only.</summary>
    Anonymous,
    /// <summary>No credentials in protected mode (loopback only, no admin password): acts as the admin.</summary>
    Local,
    User,
    /// <summary>A robot account <c>&lt;namespace&gt;+&lt;name&gt;</c>, whose roles are confined to its namespace.</summary>
    Robot,
    /// <summary>A BuildGrid service acting on its own behalf (a build worker pushing, a background flow).</summary>
    Service,
}

/// <summary>
/// Who makes a call, as every BuildGrid process sees it: resolved once at the edge from the caller's credentials and
/// carried between services in a signed <c>x-buildgrid-identity</c> entry (see <see cref="ServiceTokens"/>).
/// </summary>
public sealed record Principal(string Name, PrincipalKind Kind, bool IsAdmin, IReadOnlyDictionary<string, Role> Roles)
{
    static readonly IReadOnlyDictionary<string, Role> NoRoles = new Dictionary<string, Role>();

    public static readonly Principal Anonymous = new("anonymous", PrincipalKind.Anonymous, false, NoRoles);

    /// <summary>The caller without credentials in protected mode.</summary>
    public static readonly Principal Local = new("admin", PrincipalKind.Local, true, NoRoles);

    public static Principal Service(string appId) => new($"service:{appId}", PrincipalKind.Service, true, NoRoles);

    public static Principal User(string name, bool isAdmin, IReadOnlyDictionary<string, Role>? roles = null) =>
        new(name, PrincipalKind.User, isAdmin, roles ?? NoRoles);

    public bool IsAuthenticated => Kind is not PrincipalKind.Anonymous;

    /// <summary>
    /// Which credential authenticated this principal, as the Identity service names it (<c>password</c>, <c>token:&lt;id&gt;</c>,
    /// <c>robot:&lt;hash prefix&gt;</c>); null for principals no credential made (local, service, anonymous). A registry
    /// token carries it so that revoking that credential stops the token (see <see cref="ICredentialValidator.RecheckAsync"/>).
    /// </summary>
    public string? Credential { get; init; }

    public Role RoleIn(string @namespace) =>
        IsAdmin ? Role.Owner : Roles.TryGetValue(@namespace, out var role) ? role : Role.None;

    public bool Can(string @namespace, Role needed) => RoleIn(@namespace) >= needed;

    /// <summary>
    /// The name a write records as its operator. The authenticated identity always wins; only the protected-mode caller,
    /// who presented no credentials, may name itself (the seeds' bodies carry an <c>operator</c>).
    /// </summary>
    public string OperatorName(string? claimed) =>
        Kind == PrincipalKind.Local && claimed is { } name && name.Trim() is { Length: > 0 and <= 64 } trimmed ? trimmed : Name;
}
