namespace BuildGrid.Tests.Infrastructure;

/// <summary>Polls until a condition holds (for work done in the background), failing after a bound.</summary>
public static class Eventually
{
    public static async Task<T> Async<T>(Func<T> read, Func<T, bool> done, int timeoutMs = 10_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (true)
        {
            var value = read();
            if (done(value))
                return value;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"condition not met within {timeoutMs} ms; last value: {value}");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }
}
