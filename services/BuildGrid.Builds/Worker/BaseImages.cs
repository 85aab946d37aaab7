using System.Text.RegularExpressions;

namespace BuildGrid.Builds.Worker;

/// <summary>
/// The images a Dockerfile pulls: every <c>FROM</c> that is not an earlier stage, and every <c>COPY --from=</c> naming
/// an image, with <c>ARG</c> defaults and build arguments substituted as buildah does (<c>$NAME</c>, <c>${NAME}</c>).
/// Used to scope the pull token of a run to exactly the repositories of BuildGrid's registry it reads.
/// </summary>
public static partial class BaseImages
{
    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex Variable();

    /// <summary>The image references of <paramref name="dockerfile"/>, in order, without duplicates.</summary>
    public static IReadOnlyList<string> Of(string dockerfile, IEnumerable<string> buildArgs)
    {
        var args = new Dictionary<string, string>(StringComparer.Ordinal);
        var given = buildArgs.Where(a => a.Contains('=')).ToDictionary(a => a[..a.IndexOf('=')], a => a[(a.IndexOf('=') + 1)..], StringComparer.Ordinal);
        var stages = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var images = new List<string>();
        var seenFrom = false;
        foreach (var instruction in Instructions(dockerfile))
        {
            var words = instruction.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length < 2)
                continue;
            var keyword = words[0].ToUpperInvariant();
            if (keyword == "ARG" && !seenFrom)
            {
                var declaration = words[1];
                var name = declaration.Split('=', 2)[0];
                args[name] = given.TryGetValue(name, out var value) ? value : declaration.Contains('=') ? Substitute(declaration.Split('=', 2)[1], args) : "";
            }
            else if (keyword == "FROM")
            {
                seenFrom = true;
                var operands = words.Skip(1).Where(w => !w.StartsWith("--", StringComparison.Ordinal)).ToList();
                if (operands.Count == 0)
                    continue;
                var image = Substitute(operands[0], args);
                if (!stages.Contains(image) && !image.Equals("scratch", StringComparison.OrdinalIgnoreCase))
                    Add(images, image);
                if (operands.Count >= 3 && operands[1].Equals("AS", StringComparison.OrdinalIgnoreCase))
                    stages.Add(operands[2]);
            }
            else if (keyword is "COPY" or "ADD")
            {
                foreach (var flag in words.Skip(1).Where(w => w.StartsWith("--from=", StringComparison.OrdinalIgnoreCase)))
                {
                    var source = Substitute(flag["--from=".Length..], args);
                    if (!stages.Contains(source) && !source.All(char.IsDigit))
                        Add(images, source);
                }
            }
        }
        return images;
    }

    /// <summary>
    /// The step of <c>buildah bud</c> that first reads <paramref name="image"/>, as buildah prints it (<c>STEP 1/2: FROM
    /// team/base:1</c>: instructions numbered from the first FROM on), for a reason that names the step; null if none does.
    /// </summary>
    public static string? StepOf(string dockerfile, IEnumerable<string> buildArgs, string image)
    {
        var all = Instructions(dockerfile).ToList();
        var first = all.FindIndex(i => i.StartsWith("FROM ", StringComparison.OrdinalIgnoreCase) || i.StartsWith("FROM\t", StringComparison.OrdinalIgnoreCase));
        if (first < 0)
            return null;
        var prefix = string.Join('\n', all.Take(first));
        var steps = all.Skip(first).ToList();
        var arguments = buildArgs.ToList();
        for (var k = 0; k < steps.Count; k++)
        {
            if (Of(prefix + "\n" + steps[k], arguments).Contains(image, StringComparer.Ordinal))
                return $"STEP {k + 1}/{steps.Count}: {steps[k]}";
        }
        return null;
    }

    static void Add(List<string> images, string image)
    {
        if (!images.Contains(image, StringComparer.Ordinal))
            images.Add(image);
    }

    static string Substitute(string text, Dictionary<string, string> args) =>
        Variable().Replace(text, m => args.TryGetValue(m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value, out var value) ? value : "");

    /// <summary>The Dockerfile's instructions: comments dropped, lines continued with a trailing backslash joined.</summary>
    static IEnumerable<string> Instructions(string dockerfile)
    {
        var current = "";
        foreach (var raw in dockerfile.ReplaceLineEndings("\n").Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith('#'))
                continue;
            if (line.EndsWith('\\'))
            {
                current += line[..^1] + " ";
                continue;
            }
            current += line;
            if (current.Trim().Length > 0)
                yield return current.Trim();
            current = "";
        }
        if (current.Trim().Length > 0)
            yield return current.Trim();
    }

    /// <summary>
    /// The registry host of an image reference (<c>127.0.0.1:8080/team/base:1</c> → <c>127.0.0.1:8080</c>), or null for a
    /// reference without one (<c>alpine</c>, <c>library/alpine</c>): the first component names a host when it has a dot, a
    /// colon or is <c>localhost</c>, as in docker's reference grammar.
    /// </summary>
    public static string? HostOf(string image)
    {
        var slash = image.IndexOf('/');
        if (slash <= 0)
            return null;
        var first = image[..slash];
        return first.Contains('.') || first.Contains(':') || first.Equals("localhost", StringComparison.Ordinal) || first.StartsWith('[') ? first : null;
    }

    /// <summary>The repository of a reference after its host, without tag or digest.</summary>
    public static string RepositoryAfterHost(string image, string host) => RunExecutor.RepositoryOf(image[(host.Length + 1)..]);
}
