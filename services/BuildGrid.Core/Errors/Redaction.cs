using System.Text.RegularExpressions;

namespace BuildGrid.Core.Errors;

/// <summary>
/// Credentials that ride in URLs (<c>https://oauth2:TOKEN@host/...</c>) never reach a log line, a failure reason or an
/// error message: the user-info part of every URL in a text becomes <c>***</c>.
/// </summary>
public static partial class Redaction
{
    [GeneratedRegex(@"(?<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]+@")]
    private static partial Regex UrlUserInfo();

    public static bool HasUrlUserInfo(string text) => text.Contains("://", StringComparison.Ordinal) && text.Contains('@') && UrlUserInfo().IsMatch(text);

    /// <summary><paramref name="text"/> with the user info of each URL replaced by <c>***</c>.</summary>
    public static string UrlUserInfoMasked(string text) => HasUrlUserInfo(text) ? UrlUserInfo().Replace(text, "${scheme}***@") : text;
}
