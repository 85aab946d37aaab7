using System.Text.RegularExpressions;

namespace BuildGrid.Core.Contracts;

/// <summary>
/// Repository names and tags as the OCI distribution spec's grammar defines them: a protocol contract, shared by the
/// Registry service (which refuses other names with the registry's own errors) and the dialects that read a repository
/// from a path (Quay answers a name no repository can have as a missing repository).
/// </summary>
public static partial class OciNames
{
    /// <summary>distribution's limit on a whole repository name.</summary>
    public const int MaxRepositoryLength = 255;

    // spec: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
    [GeneratedRegex(@"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$", RegexOptions.CultureInvariant)]
    private static partial Regex RepositoryPattern();

    // spec: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
    [GeneratedRegex(@"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex TagPattern();

    public static bool IsValidRepository(string? name) =>
        name is { Length: > 0 and <= MaxRepositoryLength } && RepositoryPattern().IsMatch(name);

    public static bool IsValidTag(string? tag) => tag is { Length: > 0 and <= 128 } && TagPattern().IsMatch(tag);
}
