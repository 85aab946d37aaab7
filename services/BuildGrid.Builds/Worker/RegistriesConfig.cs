using System.Text;

namespace BuildGrid.Builds.Worker;

/// <summary>
/// The <c>registries.conf</c> (containers-registries.conf(5), version 2) of one run, written into the run's workspace
/// and handed to buildah through <c>CONTAINERS_REGISTRIES_CONF</c>: nothing under <c>/etc</c> is read for it or
/// changed. BuildGrid's own registry (every address it answers on) and the registries of
/// <see cref="BuildsOptions.InsecureRegistries"/> are reached over plain HTTP; <see cref="AddMirror"/> adds mirror
/// entries (a pull-through cache namespace standing in for an upstream), <see cref="UnqualifiedSearch"/> the
/// registries that an unqualified <c>FROM alpine</c> is looked up in.
/// </summary>
public sealed class RegistriesConfig
{
    readonly List<string> insecure = [];
    readonly List<(string Prefix, string Location, bool Insecure)> mirrors = [];

    /// <summary>Registries tried, in order, for a short name; empty: only the aliases the system defines.</summary>
    public List<string> UnqualifiedSearch { get; } = [];

    public IReadOnlyList<string> Insecure => insecure;

    /// <summary>Lets buildah reach <paramref name="location"/> (<c>host[:port]</c>) over plain HTTP or unverified TLS.</summary>
    public RegistriesConfig AddInsecure(string location)
    {
        Check(location);
        if (!insecure.Contains(location, StringComparer.OrdinalIgnoreCase))
            insecure.Add(location);
        return this;
    }

    /// <summary>Pulls of images under <paramref name="prefix"/> (e.g. <c>docker.io</c>) try <paramref name="location"/> first.</summary>
    public RegistriesConfig AddMirror(string prefix, string location, bool insecureMirror = true)
    {
        Check(prefix);
        Check(location);
        mirrors.Add((prefix, location, insecureMirror));
        return this;
    }

    /// <summary>Whether a registry location is one line of plain text that TOML can quote without escapes.</summary>
    public static bool IsValidLocation(string location) =>
        location.Length is > 0 and <= 255 && location.All(c => c > ' ' && c < 127 && c is not ('"' or '\\' or '\'' or '#'));

    static void Check(string location)
    {
        if (!IsValidLocation(location))
            throw new ArgumentException($"'{location}' is not a registry location (host[:port][/path])", nameof(location));
    }

    public string Render()
    {
        var text = new StringBuilder("# Written by BuildGrid for one run; buildah reads it through CONTAINERS_REGISTRIES_CONF.\n");
        if (UnqualifiedSearch.Count > 0)
        {
            UnqualifiedSearch.ForEach(Check);
            text.Append("unqualified-search-registries = [").AppendJoin(", ", UnqualifiedSearch.Select(r => $"\"{r}\"")).Append("]\n");
        }
        foreach (var location in insecure.Where(l => !mirrors.Any(m => m.Prefix.Equals(l, StringComparison.OrdinalIgnoreCase))))
            text.Append($"\n[[registry]]\nlocation = \"{location}\"\ninsecure = true\n");
        foreach (var group in mirrors.GroupBy(m => m.Prefix, StringComparer.Ordinal))
        {
            text.Append($"\n[[registry]]\nprefix = \"{group.Key}\"\nlocation = \"{group.Key}\"\n");
            if (insecure.Contains(group.Key, StringComparer.OrdinalIgnoreCase))
                text.Append("insecure = true\n");
            foreach (var mirror in group)
                text.Append($"\n[[registry.mirror]]\nlocation = \"{mirror.Location}\"\ninsecure = {(mirror.Insecure ? "true" : "false")}\n");
        }
        return text.ToString();
    }

    /// <summary>Writes <c>registries.conf</c> into <paramref name="directory"/> and answers its path.</summary>
    public async Task<string> WriteAsync(string directory, CancellationToken cancellationToken)
    {
        var path = Path.Combine(directory, "registries.conf");
        await File.WriteAllTextAsync(path, Render(), cancellationToken);
        return path;
    }
}
