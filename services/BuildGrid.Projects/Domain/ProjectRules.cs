using System.Globalization;
using System.Text;
using BuildGrid.Core.Errors;

namespace BuildGrid.Projects.Domain;

/// <summary>
/// What a project's names may be. A project name and a cluster name become the two components of an image repository
/// (<c>cluster/project</c>, lower-cased), so they follow the OCI component grammar, case aside:
/// letters and digits, separated by one '.', one or two '_', or dashes; at most 64 characters.
/// </summary>
public static class ProjectRules
{
    public const int MaxNameLength = 64;
    public const int MaxOperatorLength = 64;
    public const int MaxDockerfileLength = 64 * 1024;
    public const int MaxPluginSteps = 100;
    public const string DefaultCluster = "default_cluster";

    /// <summary>Validates a name; <paramref name="field"/> is the proto field the error names.</summary>
    public static void ValidateName(string? value, string field)
    {
        if (string.IsNullOrEmpty(value))
            throw Errors.Invalid(Reasons.InvalidArgument, field, $"{field} is required");
        // Special characters first: that is the error the image-market API documents (10001, naming the character).
        foreach (var rune in value.EnumerateRunes())
        {
            if (!IsNameChar(rune))
                throw Errors.Invalid(Reasons.InvalidName, field, $"{field} contains special char: {Show(rune)}", ("char", Show(rune)));
        }
        if (value.Length > MaxNameLength)
            throw Errors.Invalid(Reasons.InvalidArgument, field, $"{field} is longer than {MaxNameLength} characters");
        if (!IsAlnum(value[0]) || !IsAlnum(value[^1]) || HasBadSeparator(value))
            throw Errors.Invalid(Reasons.InvalidArgument, field,
                $"{field} must start and end with a letter or digit, with one '.', one or two '_', or dashes between them");
    }

    public static string NormalizeOperator(string? requested, string? caller)
    {
        var value = string.IsNullOrWhiteSpace(requested) ? caller ?? "admin" : requested.Trim();
        if (value.Length > MaxOperatorLength)
            throw Errors.Invalid(Reasons.InvalidArgument, "operator", $"operator is longer than {MaxOperatorLength} characters");
        if (value.Any(char.IsControl))
            throw Errors.Invalid(Reasons.InvalidArgument, "operator", "operator contains a control character");
        return value;
    }

    static bool IsNameChar(Rune rune) => rune.IsAscii && (IsAlnum((char)rune.Value) || rune.Value is '.' or '_' or '-');
    static bool IsAlnum(char c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9');

    static bool HasBadSeparator(string value)
    {
        for (var i = 0; i < value.Length;)
        {
            if (IsAlnum(value[i])) { i++; continue; }
            var start = i;
            while (i < value.Length && !IsAlnum(value[i])) i++;
            var separator = value[start..i];
            if (separator is not ("." or "_" or "__") && separator.Any(c => c != '-'))
                return true;
        }
        return false;
    }

    /// <summary>A character as an error message can show it: itself if printable, else its code point.</summary>
    static string Show(Rune rune) => Rune.IsControl(rune) || Rune.IsWhiteSpace(rune)
        ? $"U+{rune.Value.ToString("X4", CultureInfo.InvariantCulture)}"
        : rune.ToString();

    /// <summary>Why a build context's git URL is not one a build may clone, or null: a remote repository (https, http, ssh, git, scp-like).</summary>
    public static string? GitUrlProblem(string url)
    {
        if (url.Length > 2048 || url.Any(char.IsControl) || url.StartsWith('-'))
            return "git_url must be one line of at most 2048 characters, not starting with '-'";
        if (System.Text.RegularExpressions.Regex.IsMatch(url, @"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/\\].*$"))
            return null;   // git@host:group/repo.git
        return Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http" or "ssh" or "git" && uri.Host.Length > 0
            ? null
            : $"'{Errors.Shorten(url)}' is not a remote git URL (https://, http://, ssh://, git:// or git@host:path; local paths and file:// are refused)";
    }

    /// <summary>
    /// The host a build-context git URL dials, as a URL the outbound <see cref="BuildGrid.Core.Networking.NetworkPolicy"/>
    /// checks: the URL itself, or <c>ssh://host</c> for the scp-like <c>git@host:path</c> form. Null when unparsable.
    /// </summary>
    public static Uri? GitRemote(string url)
    {
        var scp = System.Text.RegularExpressions.Regex.Match(url, @"^[A-Za-z0-9._-]+@(?<host>[A-Za-z0-9.-]+):[^/\\]");
        if (scp.Success)
            return Uri.TryCreate("ssh://" + scp.Groups["host"].Value, UriKind.Absolute, out var host) ? host : null;
        return Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Host.Length > 0 ? uri : null;
    }

    /// <summary>Why a branch or tag name cannot be checked out, or null.</summary>
    public static string? GitRefProblem(string gitRef) =>
        gitRef.Length <= 255 && System.Text.RegularExpressions.Regex.IsMatch(gitRef, @"^[A-Za-z0-9_][A-Za-z0-9._/-]*$") && !gitRef.Contains("..")
            && !gitRef.EndsWith(".lock", StringComparison.Ordinal) && !gitRef.EndsWith('/')
            ? null
            : $"'{Errors.Shorten(gitRef)}' is not a branch or tag name";
}
