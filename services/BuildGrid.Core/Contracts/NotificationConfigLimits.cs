using Google.Protobuf.WellKnownTypes;

namespace BuildGrid.Core.Contracts;

/// <summary>
/// How deep and how large a notification's <c>config</c> or <c>event_config</c> (a free-form Struct) may be: at most
/// <see cref="MaxDepth"/> levels and <see cref="MaxBytes"/>. A deeper one would be stored but could not be read back
/// (the protobuf parsers stop at 100 levels, two per JSON level of a Struct), and a facade that forwarded it would see the
/// Registry refuse it as a transport error: so the Registry and the dialects that accept such a body apply the same bound.
/// </summary>
public static class NotificationConfigLimits
{
    public const int MaxDepth = 16;
    public const int MaxBytes = 64 * 1024;

    /// <summary>What is wrong with <paramref name="field"/> (<c>config</c>, <c>event_config</c>), or null when it fits.</summary>
    public static string? Problem(Struct? config, string field)
    {
        if (config is null)
            return null;
        if (config.CalculateSize() > MaxBytes)
            return $"{field} is larger than {MaxBytes} bytes";
        return DeeperThan(config, 1) ? $"{field} nests deeper than {MaxDepth} levels" : null;
    }

    /// <summary>Whether the struct at nesting level <paramref name="depth"/> holds one deeper than the limit; stops at the limit.</summary>
    static bool DeeperThan(Struct value, int depth) =>
        depth > MaxDepth || value.Fields.Values.Any(v => DeeperThan(v, depth));

    static bool DeeperThan(Value value, int depth) => value.KindCase switch
    {
        Value.KindOneofCase.StructValue => DeeperThan(value.StructValue, depth + 1),
        Value.KindOneofCase.ListValue => depth + 1 > MaxDepth || value.ListValue.Values.Any(v => DeeperThan(v, depth + 1)),
        _ => false,
    };
}
