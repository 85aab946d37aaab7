namespace BuildGrid.Core.Hosting;

/// <summary>
/// The wait before a retry, shared by everything in BuildGrid that retries on a schedule (the outbox relay, the event
/// bus on Redis, registry notifications): exponential with full jitter, capped. Retry <c>n</c> (0 for the first) waits
/// a uniformly random time between <c>initial</c> and <c>min(max, initial · 2ⁿ)</c>. The jitter spreads the retries of
/// many rows or replicas that failed together (a sidecar or a webhook target that was away) instead of sending them all
/// again in the same instant; the floor keeps a retry from coming straight back onto what just failed. A cap below
/// <c>initial</c> wins: every wait is then the cap.
/// </summary>
public static class Backoff
{
    /// <summary>The longest wait retry <paramref name="attempt"/> may draw: <c>min(max, initial · 2^attempt)</c>.</summary>
    public static TimeSpan Ceiling(long attempt, TimeSpan initial, TimeSpan max)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(initial.Ticks, nameof(initial));
        ArgumentOutOfRangeException.ThrowIfNegative(max.Ticks, nameof(max));
        // 2^40 times any sensible initial wait is far past any cap; stopping the exponent there keeps the product finite.
        var ticks = initial.Ticks * Math.Pow(2, Math.Clamp(attempt, 0, 40));
        return ticks >= max.Ticks ? max : TimeSpan.FromTicks((long)ticks);
    }

    /// <summary>The wait before retry <paramref name="attempt"/> (0 for the first): at least <c>min(initial, max)</c>, at most <see cref="Ceiling"/>.</summary>
    public static TimeSpan Next(long attempt, TimeSpan initial, TimeSpan max, Random? random = null)
    {
        var ceiling = Ceiling(attempt, initial, max);
        var floor = initial < max ? initial : max;
        var spread = ceiling.Ticks - floor.Ticks;
        return spread <= 0 ? ceiling : TimeSpan.FromTicks(floor.Ticks + (long)((random ?? Random.Shared).NextDouble() * spread));
    }
}
