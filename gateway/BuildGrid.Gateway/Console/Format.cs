using System.Globalization;
using BuildGrid.Builds.V1;
using Google.Protobuf.WellKnownTypes;

namespace BuildGrid.Gateway.Console;

/// <summary>How the console spells values: times in UTC, durations, sizes, states in words. Razor encodes the results.</summary>
public static class Format
{
    public static string Role(Identity.V1.Role role) => role switch
    {
        Identity.V1.Role.Guest => "guest",
        Identity.V1.Role.Developer => "developer",
        Identity.V1.Role.Owner => "owner",
        _ => "none",
    };

    public static string Time(Timestamp? time) =>
        time is null || time.Seconds == 0 && time.Nanos == 0 ? "—" : time.ToDateTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC";

    /// <summary>The machine-readable form for a &lt;time datetime&gt; attribute.</summary>
    public static string IsoTime(Timestamp? time) =>
        time is null || time.Seconds == 0 ? "" : time.ToDateTime().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    /// <summary>From <paramref name="start"/> to <paramref name="finish"/>, or to <paramref name="now"/> while it runs.</summary>
    public static string Duration(Timestamp? start, Timestamp? finish, DateTimeOffset now)
    {
        if (start is null || start.Seconds == 0)
            return "—";
        var end = finish is null || finish.Seconds == 0 ? now.UtcDateTime : finish.ToDateTime();
        var span = end - start.ToDateTime();
        if (span < TimeSpan.Zero)
            span = TimeSpan.Zero;
        return span.TotalHours >= 1 ? $"{(int)span.TotalHours}h {span.Minutes}m"
            : span.TotalMinutes >= 1 ? $"{(int)span.TotalMinutes}m {span.Seconds}s"
            : $"{span.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)}s";
    }

    public static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => (bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        < 1024L * 1024 * 1024 => (bytes / 1024.0 / 1024).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        _ => (bytes / 1024.0 / 1024 / 1024).ToString("0.00", CultureInfo.InvariantCulture) + " GiB",
    };

    public static string State(RunState state) => state switch
    {
        RunState.Queued => "queued",
        RunState.Running => "running",
        RunState.Succeeded => "succeeded",
        RunState.Failed => "failed",
        RunState.TimedOut => "timed out",
        RunState.Cancelled => "cancelled",
        _ => "unknown",
    };

    public static bool IsFinished(RunState state) => state is RunState.Succeeded or RunState.Failed or RunState.TimedOut or RunState.Cancelled;

    public static string ShortDigest(string digest) => digest.StartsWith("sha256:", StringComparison.Ordinal) && digest.Length > 19 ? digest[..19] : digest;
}
