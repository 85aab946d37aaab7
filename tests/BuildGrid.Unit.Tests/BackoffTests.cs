using BuildGrid.Core.Hosting;

namespace BuildGrid.Unit.Tests;

public sealed class BackoffTests
{
    static readonly TimeSpan Initial = TimeSpan.FromSeconds(1);
    static readonly TimeSpan Max = TimeSpan.FromMinutes(5);

    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 2)]
    [InlineData(4, 16)]
    [InlineData(8, 256)]
    [InlineData(9, 300)]
    [InlineData(62, 300)]
    [InlineData(long.MaxValue, 300)]
    public void The_ceiling_doubles_per_retry_up_to_the_cap(long attempt, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), Backoff.Ceiling(attempt, Initial, Max));

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(12)]
    [InlineData(1000)]
    public void Every_wait_lies_between_the_initial_wait_and_the_ceiling(long attempt)
    {
        var random = new Random(attempt.GetHashCode());
        var ceiling = Backoff.Ceiling(attempt, Initial, Max);
        for (var i = 0; i < 10_000; i++)
        {
            var wait = Backoff.Next(attempt, Initial, Max, random);
            Assert.InRange(wait, Initial, ceiling);
        }
    }

    [Fact]
    public void The_first_retry_waits_exactly_the_initial_wait() =>
        Assert.Equal(Initial, Backoff.Next(0, Initial, Max));

    [Fact]
    public void Waits_are_spread_over_the_whole_range_not_bunched()
    {
        // Retry 6 of many rows that failed together: their waits should cover [1 s, 64 s), not sit on one value.
        var random = new Random(6);
        var waits = Enumerable.Range(0, 2_000).Select(_ => Backoff.Next(6, Initial, Max, random).TotalSeconds).ToList();
        Assert.True(waits.Min() < 5, $"shortest {waits.Min()} s");
        Assert.True(waits.Max() > 60, $"longest {waits.Max()} s");
        Assert.InRange(waits.Average(), 28.0, 37.0);
        Assert.True(waits.Distinct().Count() > 1_900);
    }

    [Fact]
    public void A_cap_below_the_initial_wait_is_every_wait()
    {
        var cap = TimeSpan.FromMilliseconds(300);
        foreach (var attempt in new long[] { 0, 1, 10 })
            Assert.Equal(cap, Backoff.Next(attempt, Initial, cap));
    }

    [Fact]
    public void Negative_waits_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Backoff.Next(0, TimeSpan.FromSeconds(-1), Max));
        Assert.Throws<ArgumentOutOfRangeException>(() => Backoff.Next(0, Initial, TimeSpan.FromSeconds(-1)));
    }
}
