namespace BuildGrid.Core.Identity;

/// <summary>What a list shows a principal: the namespaces in which it holds at least a role.</summary>
public static class NamespaceFilter
{
    /// <summary>The namespaces where <paramref name="principal"/> holds <paramref name="role"/> or more; null when it holds it everywhere (an administrator).</summary>
    public static IReadOnlyCollection<string>? Where(this Principal principal, Role role) =>
        principal.IsAdmin ? null : principal.Roles.Where(r => r.Value >= role).Select(r => r.Key).ToList();
}
