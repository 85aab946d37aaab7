using System.Buffers.Text;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace BuildGrid.Identity.Domain;

/// <summary>What a caller presents in an Authorization header.</summary>
public abstract record Credential
{
    /// <summary><c>Basic user:password</c>, or <c>Basic namespace+robot:token</c> (how podman and skopeo log in).</summary>
    public sealed record Basic(string User, string Password) : Credential;
    public sealed record Bearer(string Token) : Credential;

    /// <summary>The credential of a header value, or null when it is neither well-formed Basic nor Bearer.</summary>
    public static Credential? Parse(string authorization)
    {
        if (authorization.Length > 8 * 1024 || !AuthenticationHeaderValue.TryParse(authorization, out var header) || header.Parameter is not { Length: > 0 } value)
            return null;
        if (string.Equals(header.Scheme, "Bearer", StringComparison.OrdinalIgnoreCase))
            return new Bearer(value);
        if (!string.Equals(header.Scheme, "Basic", StringComparison.OrdinalIgnoreCase))
            return null;
        string decoded;
        try
        {
            decoded = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Convert.FromBase64String(value));
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            return null;
        }
        var colon = decoded.IndexOf(':');
        return colon <= 0 ? null : new Basic(decoded[..colon], decoded[(colon + 1)..]);
    }
}

/// <summary>Secrets BuildGrid hands out (API tokens, robot tokens) and their stored form.</summary>
public static class Secrets
{
    public const string TokenPrefix = "bgt_";
    public const string RobotTokenPrefix = "bgr_";

    /// <summary>The prefix and 32 random bytes, base64url.</summary>
    public static string NewToken(string prefix) => prefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    /// <summary>A password for a user created without one: 18 random bytes, base64url (24 characters).</summary>
    public static string NewPassword() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(18));

    /// <summary>
    /// The stored form of a token: SHA-256, hex. A token has 256 random bits, so a fast hash suffices (nothing to
    /// guess); passwords, which people choose, go through <see cref="Microsoft.AspNetCore.Identity.PasswordHasher{TUser}"/>.
    /// </summary>
    public static string HashToken(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>True when the value has a token's shape (so that a lookup is worth it).</summary>
    public static bool LooksLikeToken(string value, string prefix) =>
        value.Length == prefix.Length + 43 && value.StartsWith(prefix, StringComparison.Ordinal);
}
