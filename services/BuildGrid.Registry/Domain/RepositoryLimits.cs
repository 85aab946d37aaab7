using System.Text;
using Google.Protobuf.WellKnownTypes;

namespace BuildGrid.Registry.Domain;

/// <summary>
/// Bounds on what a caller may store in a repository's settings, so that no single call — or a list of many
/// repositories — holds megabytes in memory: a description is at most <see cref="MaxDescriptionBytes"/>; a list page
/// stops early once its descriptions pass <see cref="ListDescriptionBudgetBytes"/> (its page token goes on from there);
/// a notification's <c>config</c> and <c>event_config</c> nest at most <see cref="MaxConfigDepth"/> levels and
/// weigh at most <see cref="MaxConfigBytes"/> (a deeper one would be stored but could not be read back: the protobuf
/// parsers stop at 100 levels, two per JSON level of a Struct).
/// </summary>
public static class RepositoryLimits
{
    public const int MaxDescriptionBytes = 64 * 1024;
    public const int ListDescriptionBudgetBytes = 1024 * 1024;
    public const int MaxConfigDepth = 16;
    public const int MaxConfigBytes = 64 * 1024;

    /// <summary>What is wrong with a description, or null when it fits.</summary>
    public static string? DescriptionProblem(string description) =>
        description.Length > MaxDescriptionBytes / 3 && Encoding.UTF8.GetByteCount(description) > MaxDescriptionBytes
            ? $"description is longer than {MaxDescriptionBytes} bytes (UTF-8)"
            : null;

    /// <summary>What is wrong with a notification's <paramref name="field"/> (<c>config</c>, <c>event_config</c>), or null when it fits.</summary>
    public static string? ConfigProblem(Struct? config, string field)
    {
        if (config is null)
            return null;
        if (config.CalculateSize() > MaxConfigBytes)
            return $"{field} is larger than {MaxConfigBytes} bytes";
        return DeeperThan(config, 1) ? $"{field} nests deeper than {MaxConfigDepth} levels" : null;
    }

    /// <summary>Whether the struct at nesting level <paramref name="depth"/> holds one deeper than the limit; stops at the limit.</summary>
    static bool DeeperThan(Struct value, int depth) =>
        depth > MaxConfigDepth || value.Fields.Values.Any(v => DeeperThan(v, depth));

    static bool DeeperThan(Value value, int depth) => value.KindCase switch
    {
        Value.KindOneofCase.StructValue => DeeperThan(value.StructValue, depth + 1),
        Value.KindOneofCase.ListValue => depth + 1 > MaxConfigDepth || value.ListValue.Values.Any(v => DeeperThan(v, depth + 1)),
        _ => false,
    };
}
