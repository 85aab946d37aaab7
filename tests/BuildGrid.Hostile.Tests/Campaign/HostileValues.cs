using System.Text;

namespace BuildGrid.Hostile.Tests.Campaign;

/// <summary>
/// The hostile values every surface draws from, from one seeded <see cref="Random"/> so that a run is reproducible:
/// injection shapes (SQL, path traversal, header injection), control characters, overlong and invalid UTF-8, huge and
/// empty values, numbers at and past the edges of their types.
/// </summary>
public sealed class HostileValues(int seed)
{
    public Random Random { get; } = new(seed);

    public const int HugeLength = 1 << 20;

    /// <summary>Text values (valid UTF-16, so they pass through any client); <see cref="Huge"/> is drawn separately.</summary>
    public static readonly string[] Strings =
    [
        "",
        " ",
        "' OR 1=1 --",
        "\" OR \"\"=\"",
        "x'; DROP TABLE projects; --",
        "1; DROP TABLE repositories",
        "%' OR '%'='",
        "../../../../etc/passwd",
        "..%2f..%2f..%2fetc%2fpasswd",
        "%2e%2e%2f%2e%2e%2f",
        "..\\..\\windows\\win.ini",
        "a/../../b",
        "/",
        "//",
        "a\r\nX-Injected: 1",
        "a\r\n\r\nHTTP/1.1 200 OK",
        "nul\0byte",
        "\u0001\u0002\u0003\u001b[31m\u007f",
        "\t\v\f",
        "\u202eevil\u202d",
        "\uFEFFbom",
        "\uD83D\uDE00\u0301\u200D",
        "名字-имя",
        "${jndi:ldap://127.0.0.1/x}",
        "{{7*7}}",
        "<script>alert(1)</script>",
        "$(id)`id`;id|id",
        "-1",
        "0",
        "9223372036854775808",
        "1e309",
        "NaN",
        "null",
        "true",
        "[]",
        "{}",
        "sha256:" + new string('0', 64),
        "sha256:../../x",
        "a:b@c",
        "UPPER/Case_Name",
        new string('a', 256),
        new string('/', 300),
    ];

    /// <summary>Byte strings that are not valid UTF-8: overlong encodings of '/', '.', NUL, lone surrogates, truncated sequences.</summary>
    public static readonly byte[][] InvalidUtf8 =
    [
        [0xC0, 0xAF],                   // overlong '/'
        [0xC0, 0xAE, 0xC0, 0xAE, 0xC0, 0xAF], // overlong "../"
        [0xE0, 0x80, 0xAF],             // 3-byte overlong '/'
        [0xF0, 0x80, 0x80, 0xAF],       // 4-byte overlong '/'
        [0xC0, 0x80],                   // overlong NUL
        [0xED, 0xA0, 0x80],             // UTF-16 surrogate in UTF-8
        [0xFF, 0xFE, 0xFD],
        [0xE2, 0x82],                   // truncated
        [0x80],
    ];

    public static readonly long[] Integers =
    [
        0, -1, 1, int.MaxValue, int.MinValue, (long)int.MaxValue + 1, long.MaxValue, long.MinValue, uint.MaxValue,
    ];

    public static string Huge(char c = 'A') => new(c, HugeLength);

    public T Pick<T>(IReadOnlyList<T> values) => values[Random.Next(values.Count)];

    public bool Chance(double p) => Random.NextDouble() < p;

    public string String() => Chance(0.02) ? Huge() : Pick(Strings);

    public byte[] Bytes(int max = 64)
    {
        var bytes = new byte[Random.Next(max + 1)];
        Random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>A URL path segment: a hostile string percent-encoded, or raw escapes and invalid UTF-8 as escapes.</summary>
    public string PathSegment() => Random.Next(6) switch
    {
        0 => Uri.EscapeDataString(Pick(Strings)),
        1 => Pick(["..", "%2e%2e", "%2e%2e%2f%2e%2e%2f", "..%2F..%2F", "%00", "%0d%0a", "%ff", "%c0%af", "%c0%ae%c0%ae%c0%af", "%", "%zz"]),
        2 => Percent(Pick(InvalidUtf8)),
        3 => new string('a', 4096),
        4 => "a%2Fb",
        _ => Uri.EscapeDataString(Pick(Strings)) + "%00",
    };

    /// <summary>A query value, percent-encoded (raw control bytes cannot be sent through HttpClient).</summary>
    public string QueryValue() => Random.Next(5) switch
    {
        0 => Percent(Pick(InvalidUtf8)),
        1 => Uri.EscapeDataString(Integers[Random.Next(Integers.Length)].ToString(System.Globalization.CultureInfo.InvariantCulture)),
        2 => Pick(["%", "%zz", "a&b=c", "%00", "%0d%0aX-Injected:%201", "1.5", "-0", "1e10", "0x10", "true"]),
        _ => Uri.EscapeDataString(Pick(Strings)),
    };

    public static string Percent(byte[] bytes) => string.Concat(bytes.Select(b => "%" + b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>JSON nested <paramref name="depth"/> levels deep (arrays or objects).</summary>
    public static string DeepJson(int depth, bool objects)
    {
        var builder = new StringBuilder(depth * 8);
        for (var i = 0; i < depth; i++)
            builder.Append(objects ? "{\"a\":" : "[");
        builder.Append('1');
        for (var i = 0; i < depth; i++)
            builder.Append(objects ? '}' : ']');
        return builder.ToString();
    }
}
