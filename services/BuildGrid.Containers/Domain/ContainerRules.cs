using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using BuildGrid.Core.Errors;
using Google.Rpc;
using Grpc.Core;

namespace BuildGrid.Containers.Domain;

/// <summary>The kinds of container, as events and error metadata name them.</summary>
public static class ContainerKinds
{
    public const string Project = "project";
    public const string Branch = "branch";
    public const string ProjectGroup = "project-group";
    public const string Snapshot = "snapshot";
}

/// <summary>
/// What ids, names and snapshot fields may be. Names are free text for people (a branch may be <c>feature/x</c>,
/// a project <c>proftpd 1.3 (legacy)</c>): 1..255 characters, valid Unicode, no control or format characters, no
/// white space at either end. Ids are UUIDs, written lower-case.
/// </summary>
public static partial class ContainerRules
{
    public const int MaxNameLength = 255;
    public const int MaxSourceFieldLength = 128;
    public const int MaxMetadataBytes = 64 * 1024;

    /// <summary>Validates a name; <paramref name="field"/> is the proto field the error names.</summary>
    public static string ValidateName(string? value, string field)
    {
        if (string.IsNullOrEmpty(value))
            throw Errors.Invalid(Reasons.InvalidArgument, field, $"{field} is required");
        if (value.Length > MaxNameLength)
            throw Errors.Invalid(Reasons.InvalidArgument, field, $"{field} is longer than {MaxNameLength} characters");
        CheckText(value, field, Reasons.InvalidName);
        if (char.IsWhiteSpace(value[0]) || char.IsWhiteSpace(value[^1]))
            throw Errors.Invalid(Reasons.InvalidName, field, $"{field} must not start or end with white space");
        return value;
    }

    /// <summary>A substring filter: empty, or text a name could contain.</summary>
    public static string ValidateFilter(string? value, string field)
    {
        if (string.IsNullOrEmpty(value))
            return "";
        if (value.Length > MaxNameLength)
            throw Errors.Invalid(Reasons.InvalidArgument, field, $"{field} is longer than {MaxNameLength} characters");
        CheckText(value, field, Reasons.InvalidArgument);
        return value;
    }

    /// <summary>A required id: a UUID, returned in its canonical lower-case form.</summary>
    public static string ParseId(string? value, string field)
    {
        if (string.IsNullOrEmpty(value))
            throw Errors.Invalid(Reasons.InvalidArgument, field, $"{field} is required");
        return TryParseId(value) ?? throw Errors.Invalid(Reasons.InvalidArgument, field, $"{field} must be a UUID, not '{Shorten(value)}'");
    }

    /// <summary>An optional id: empty stays empty.</summary>
    public static string ParseOptionalId(string? value, string field) => string.IsNullOrEmpty(value) ? "" : ParseId(value, field);

    public static string? TryParseId(string? value) =>
        value is { Length: 36 } && Guid.TryParseExact(value, "D", out var id) ? id.ToString("D") : null;

    public static string NewId() => Guid.NewGuid().ToString("D");

    /// <summary>A build run id or commit: optional, short, printable.</summary>
    public static string ValidateSourceField(string? value, string field)
    {
        if (string.IsNullOrEmpty(value))
            return "";
        if (value.Length > MaxSourceFieldLength)
            throw Errors.Invalid(Reasons.InvalidArgument, field, $"{field} is longer than {MaxSourceFieldLength} characters");
        CheckText(value, field, Reasons.InvalidArgument);
        if (value.Any(char.IsWhiteSpace))
            throw Errors.Invalid(Reasons.InvalidArgument, field, $"{field} must not contain white space");
        return value;
    }

    /// <summary>An OCI digest such as <c>sha256:&lt;64 hex&gt;</c>, or empty.</summary>
    public static string ValidateDigest(string? value, string field)
    {
        if (string.IsNullOrEmpty(value))
            return "";
        if (value.Length > MaxNameLength || !Digest().IsMatch(value))
            throw Errors.Invalid(Reasons.InvalidArgument, field, $"{field} must be a digest such as sha256:<64 hex digits>, not '{Shorten(value)}'");
        return value;
    }

    [GeneratedRegex("^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$", RegexOptions.CultureInvariant)]
    private static partial Regex Digest();

    static void CheckText(string value, string field, string reason)
    {
        foreach (var rune in Runes(value, field))
        {
            var category = Rune.GetUnicodeCategory(rune);
            if (category is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
                or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned)
                throw Errors.Invalid(reason, field, $"{field} contains a control or invisible character: U+{rune.Value.ToString("X4", CultureInfo.InvariantCulture)}",
                    ("char", $"U+{rune.Value.ToString("X4", CultureInfo.InvariantCulture)}"));
        }
    }

    static IEnumerable<Rune> Runes(string value, string field)
    {
        for (var i = 0; i < value.Length;)
        {
            if (Rune.DecodeFromUtf16(value.AsSpan(i), out var rune, out var used) != System.Buffers.OperationStatus.Done)
                throw Errors.Invalid(Reasons.InvalidName, field, $"{field} is not valid Unicode (a lone surrogate)");
            yield return rune;
            i += used;
        }
    }

    /// <summary>A value as an error message may quote it.</summary>
    public static string Shorten(string value)
    {
        var printable = new string(value.Take(64).Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return value.Length > 64 ? printable + "..." : printable;
    }

    public static RpcException NotFound(string kind, string id) =>
        Errors.Create(Code.NotFound, kind == ContainerKinds.Snapshot ? Reasons.SnapshotNotFound : Reasons.ContainerNotFound,
            $"{Display(kind)} '{Shorten(id)}' not found", ("id", id), ("kind", kind));

    public static RpcException AlreadyExists(string kind, string name, string? where = null) =>
        Errors.Create(Code.AlreadyExists, Reasons.ContainerAlreadyExists,
            $"a {Display(kind)} named '{Shorten(name)}' already exists{where}", ("name", name), ("kind", kind));

    public static string Display(string kind) => kind == ContainerKinds.ProjectGroup ? "project group" : kind;
}

/// <summary>
/// Keyset paging over (name, id): a page token is the last row's name and id, so every page is an index seek and
/// rows inserted or removed meanwhile never shift the pages.
/// </summary>
public readonly record struct Page(int Limit, string? AfterName, string? AfterId)
{
    public const int DefaultSize = 100;
    public const int MaxSize = 1000;

    public static Page From(int pageSize, string? token)
    {
        if (pageSize < 0)
            throw Errors.Invalid(Reasons.InvalidArgument, "page_size", "page_size must not be negative");
        var limit = pageSize == 0 ? DefaultSize : Math.Min(pageSize, MaxSize);
        if (string.IsNullOrEmpty(token))
            return new Page(limit, null, null);
        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(token.Replace('-', '+').Replace('_', '/').PadRight((token.Length + 3) / 4 * 4, '=')));
            var separator = text.IndexOf('\n');
            if (separator > 0 && ContainerRules.TryParseId(text[(separator + 1)..]) is { } id)
                return new Page(limit, text[..separator], id);
        }
        catch (FormatException)
        {
        }
        throw Errors.Invalid(Reasons.InvalidArgument, "page_token", "page_token is not a token this service gave out");
    }

    /// <summary>The token of the page after a full page ending at (name, id); empty when the page was the last.</summary>
    public static string Next(bool more, string lastName, string lastId) => more
        ? Convert.ToBase64String(Encoding.UTF8.GetBytes(lastName + "\n" + lastId)).TrimEnd('=').Replace('+', '-').Replace('/', '_')
        : "";
}
