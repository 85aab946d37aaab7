namespace BuildGrid.Builds.Domain;

/// <summary>
/// Credentials of a git URL. A code host's URL may carry them (<c>https://oauth2:TOKEN@host</c>, or a bare token as
/// <c>https://TOKEN@host</c>); BuildGrid keeps the URL without them and the token apart — stored encrypted, handed to
/// git by a prompt helper private to the run, masked in logs — so that no clone command line, log line or answer
/// shows it. <c>ssh://git@host</c> names only a user and is left as it is.
/// </summary>
public static class GitCredentials
{
    /// <summary>The user name presented with a bare token: GitLab and GitHub accept it with an access token.</summary>
    public const string DefaultUsername = "oauth2";

    /// <summary>The URL without its user info, and the user name and secret it carried (null when it carried none).</summary>
    public static (string Url, string? Username, string? Secret) Split(string url)
    {
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        if (scheme <= 0)
            return (url, null, null);
        var start = scheme + 3;
        var end = url.IndexOfAny(['/', '?', '#'], start);
        var at = url.LastIndexOf('@', end < 0 ? url.Length - 1 : end - 1);
        if (at < start)
            return (url, null, null);
        var info = url[start..at];
        var colon = info.IndexOf(':');
        if (colon < 0 && !url.StartsWith("http", StringComparison.OrdinalIgnoreCase))
            return (url, null, null);
        var clean = url[..start] + url[(at + 1)..];
        return colon < 0
            ? (clean, DefaultUsername, Uri.UnescapeDataString(info))
            : (clean, Uri.UnescapeDataString(info[..colon]) is { Length: > 0 } user ? user : DefaultUsername, Uri.UnescapeDataString(info[(colon + 1)..]));
    }
}
