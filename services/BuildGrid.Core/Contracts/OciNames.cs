using System.Text.RegularExpressions;

namespace BuildGrid.Core.Contracts;

/// <summary>
/// Repository names and tags as the OCI distribution spec's grammar defines them: a protocol contract, shared by the
/// Registry service (which refuses other names with the registry's own errors) and the dialects that read a repository
/// from a path (Quay answers a name no repository can have as a missing repository).
/// </summary>
public static partial class OciNames
{
    /// <summary>
    /// The longest namespace, a name's first component: Quay's longest namespace (<c>MAX_USERNAME_LENGTH</c>) and Harbor's
    /// longest project name.
    /// </summary>
    public const int MaxNamespaceLength = 255;

    /// <summary>
    /// The longest name within a namespace that a dialect documents: Quay's repository name (<c>[a-z0-9][.a-z0-9_-]{0,254}</c>).
    /// </summary>
    public const int MaxNameInNamespaceLength = 255;

    /// <summary>
    /// The longest whole repository name the registry holds: the largest a dialect documents, a 255-character Quay namespace,
    /// '/', and a 255-character Quay repository. distribution's own limit is 255 for the whole name, but the OCI spec leaves
    /// the length to the server (its 255 is a limit many clients impose on host and name together); each dialect keeps its
    /// own limit at its front.
    /// </summary>
    public const int MaxRepositoryLength = MaxNamespaceLength + 1 + MaxNameInNamespaceLength;

    // spec: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
    [GeneratedRegex(@"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$", RegexOptions.CultureInvariant)]
    private static partial Regex RepositoryPattern();

    // spec: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
    [GeneratedRegex(@"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex TagPattern();

    public static bool IsValidRepository(string? name) =>
        name is { Length: > 0 and <= MaxRepositoryLength } && (name.IndexOf('/') is var slash and >= 0 ? slash : name.Length) <= MaxNamespaceLength
        && RepositoryPattern().IsMatch(name);

    public static bool IsValidTag(string? tag) => tag is { Length: > 0 and <= 128 } && TagPattern().IsMatch(tag);
}
