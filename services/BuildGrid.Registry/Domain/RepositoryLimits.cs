using System.Text;

namespace BuildGrid.Registry.Domain;

/// <summary>
/// Bounds on what a caller may store in a repository's settings, so that no single call — or a list of many
/// repositories — holds megabytes in memory: a description is at most <see cref="MaxDescriptionBytes"/>; a list page
/// stops early once its descriptions pass <see cref="ListDescriptionBudgetBytes"/> (its page token goes on from there).
/// A notification's <c>config</c> and <c>event_config</c> are bounded by <see cref="NotificationConfigLimits"/>, which the
/// dialects apply too.
/// </summary>
public static class RepositoryLimits
{
    public const int MaxDescriptionBytes = 64 * 1024;
    public const int ListDescriptionBudgetBytes = 1024 * 1024;

    /// <summary>What is wrong with a description, or null when it fits.</summary>
    public static string? DescriptionProblem(string description) =>
        description.Length > MaxDescriptionBytes / 3 && Encoding.UTF8.GetByteCount(description) > MaxDescriptionBytes
            ? $"description is longer than {MaxDescriptionBytes} bytes (UTF-8)"
            : null;
}
