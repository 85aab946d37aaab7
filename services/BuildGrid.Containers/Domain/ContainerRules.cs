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
/// <para>So that two names that look the same are the same name (or one is refused): a name is stored in Unicode NFC
/// (an NFD <c>é</c>, e + U+0301, is the NFC one); the only space is U+0020 (no-break, ideographic and other spaces are
/// refused, as are zero-width and other invisible characters); and letters of Latin, Cyrillic and Greek — whose
/// look-alikes (Latin a / Cyrillic а, Latin o / Greek ο) make confusable names — may not be mixed within one word
/// (a run of letters: <c>pаyments</c> with a Cyrillic а is refused; <c>core ядро</c> is two words and accepted).
/// Normalisation needs ICU: this service runs with InvariantGlobalization off (see its project file).</para>
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
        value = Nfc(value);
        if (char.IsWhiteSpace(value[0]) || char.IsWhiteSpace(value[^1]))
            throw Errors.Invalid(Reasons.InvalidName, field, $"{field} must not start or end with white space");
        CheckLookAlikes(value, field);
        return value;
    }

    /// <summary>The NFC form (what two spellings of one name, composed or not, are stored and found as).</summary>
    static string Nfc(string value) => value.IsNormalized(NormalizationForm.FormC) ? value : value.Normalize(NormalizationForm.FormC);

    enum Script { None, Latin, Greek, Cyrillic }

    static Script ScriptOf(Rune rune) => rune.Value switch
    {
        _ when !Rune.IsLetter(rune) => Script.None,
        <= 0x024F or (>= 0x1E00 and <= 0x1EFF) or (>= 0x2C60 and <= 0x2C7F) or (>= 0xA720 and <= 0xA7FF) or (>= 0xFF21 and <= 0xFF5A) => Script.Latin,
        (>= 0x0370 and <= 0x03FF) or (>= 0x1F00 and <= 0x1FFF) => Script.Greek,
        (>= 0x0400 and <= 0x052F) or (>= 0x1C80 and <= 0x1C8F) or (>= 0x2DE0 and <= 0x2DFF) or (>= 0xA640 and <= 0xA69F) => Script.Cyrillic,
        _ => Script.None,
    };

    /// <summary>Refuses spaces other than U+0020 and words (runs of letters) mixing Latin, Greek and Cyrillic letters (confusables).</summary>
    static void CheckLookAlikes(string value, string field)
    {
        var seen = Script.None;
        foreach (var rune in value.EnumerateRunes())
        {
            if (Rune.IsWhiteSpace(rune) && rune.Value != ' ')
                throw Errors.Invalid(Reasons.InvalidName, field,
                    $"{field} contains a space other than U+0020: U+{rune.Value.ToString("X4", CultureInfo.InvariantCulture)}",
                    ("char", $"U+{rune.Value.ToString("X4", CultureInfo.InvariantCulture)}"));
            var script = ScriptOf(rune);
            if (script == Script.None)
            {
                // A word ends at anything but a letter or a combining mark: "Team Ω" mixes words, not letters.
                if (!Rune.IsLetter(rune) && Rune.GetUnicodeCategory(rune) is not (UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark))
                    seen = Script.None;
                continue;
            }
            if (seen != Script.None && script != seen)
                throw Errors.Invalid(Reasons.InvalidName, field,
                    $"{field} mixes {seen} and {script} letters (U+{rune.Value.ToString("X4", CultureInfo.InvariantCulture)}), which look alike: write it in one script",
                    ("char", $"U+{rune.Value.ToString("X4", CultureInfo.InvariantCulture)}"));
            seen = script;
        }
    }

    /// <summary>A substring filter: empty, or text a name could contain.</summary>
    public static string ValidateFilter(string? value, string field)
    {
        if (string.IsNullOrEmpty(value))
            return "";
        if (value.Length > MaxNameLength)
            throw Errors.Invalid(Reasons.InvalidArgument, field, $"{field} is longer than {MaxNameLength} characters");
        CheckText(value, field, Reasons.InvalidArgument);
        return Nfc(value);
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
