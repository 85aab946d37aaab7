using System.Text.RegularExpressions;

namespace BuildGrid.Registry.Domain;

/// <summary>Repository names and tags as the OCI distribution spec defines them.</summary>
public static partial class Names
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

    public static void ValidateRepository(string? name)
    {
        if (!IsValidRepository(name))
            throw new RegistryException(RegistryError.NameInvalid, "invalid repository name",
                $"'{Shorten(name)}' is not an OCI repository name: lower-case a-z0-9 components joined by '.', '_', '__' or '-', separated by '/', at most {MaxRepositoryLength} characters");
    }

    public static void ValidateTag(string? tag)
    {
        if (!IsValidTag(tag))
            throw new RegistryException(RegistryError.TagInvalid, "invalid tag",
                $"'{Shorten(tag)}' is not a tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}");
    }

    internal static string Shorten(string? text) => text is null ? "" : text.Length > 300 ? text[..300] + "…" : text;
}
