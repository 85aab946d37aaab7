using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace BuildGrid.Registry.Domain;

/// <summary>
/// A content digest, <c>sha256:&lt;64 lower-case hex&gt;</c>. Other algorithms are well-formed digests the registry does
/// not store (the spec makes sha256 the one a registry must support).
/// </summary>
public readonly record struct Digest(string Hex)
{
    public const string Sha256Prefix = "sha256:";

    public override string ToString() => Sha256Prefix + Hex;

    public static bool TryParse(string? text, [NotNullWhen(true)] out Digest? digest)
    {
        digest = null;
        if (text is null || text.Length != Sha256Prefix.Length + 64 || !text.StartsWith(Sha256Prefix, StringComparison.Ordinal))
            return false;
        foreach (var c in text.AsSpan(Sha256Prefix.Length))
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
                return false;
        }
        digest = new Digest(text[Sha256Prefix.Length..]);
        return true;
    }

    public static Digest Parse(string? text) => TryParse(text, out var digest) ? digest.Value
        : throw new RegistryException(RegistryError.DigestInvalid, "invalid digest",
            IsOtherAlgorithm(text) ? $"'{Names.Shorten(text)}': only sha256 digests are supported"
                : $"'{Names.Shorten(text)}' is not a digest of the form sha256:<64 lower-case hex digits>");

    /// <summary>True for a reference that has the shape of a digest (algorithm:encoded) rather than of a tag.</summary>
    public static bool LooksLikeDigest(string reference) => reference.Contains(':');

    public static Digest Of(ReadOnlySpan<byte> content) => new(Convert.ToHexStringLower(SHA256.HashData(content)));

    static bool IsOtherAlgorithm(string? text) =>
        text is not null && text.IndexOf(':') is > 0 and var i && text[..i] is "sha512" or "sha384" or "blake3";
}
