using BuildGrid.Core.Contracts;

namespace BuildGrid.Registry.Domain;

/// <summary>Repository names and tags as the OCI distribution spec defines them (<see cref="OciNames"/>), refused with the registry's errors.</summary>
public static class Names
{
    public static void ValidateRepository(string? name)
    {
        if (!OciNames.IsValidRepository(name))
            throw new RegistryException(RegistryError.NameInvalid, "invalid repository name",
                $"'{Shorten(name)}' is not an OCI repository name: lower-case a-z0-9 components joined by '.', '_', '__' or '-', separated by '/', at most {OciNames.MaxRepositoryLength} characters with at most {OciNames.MaxNamespaceLength} before the first '/'");
    }

    public static void ValidateTag(string? tag)
    {
        if (!OciNames.IsValidTag(tag))
            throw new RegistryException(RegistryError.TagInvalid, "invalid tag",
                $"'{Shorten(tag)}' is not a tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}");
    }

    internal static string Shorten(string? text) => text is null ? "" : text.Length > 300 ? text[..300] + "…" : text;
}
