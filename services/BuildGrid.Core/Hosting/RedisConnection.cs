using StackExchange.Redis;

namespace BuildGrid.Core.Hosting;

/// <summary>
/// The process's one Redis multiplexer, connected on first use, shared by the build queue and the Redis event bus. The
/// connection string comes from BUILDGRID_REDIS, or in standalone mode from the embedded Garnet server (the host
/// registers that source before AddBuilds).
/// </summary>
public sealed class RedisConnection(Func<string> connectionString) : IAsyncDisposable
{
    readonly SemaphoreSlim gate = new(1, 1);
    ConnectionMultiplexer? multiplexer;

    /// <summary>The multiplexer if a first use has connected it; null before.</summary>
    public IConnectionMultiplexer? Current => multiplexer;

    public async Task<IConnectionMultiplexer> GetAsync(CancellationToken cancellationToken)
    {
        if (multiplexer is { } ready)
            return ready;
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (multiplexer is null)
            {
                var options = ConfigurationOptions.Parse(connectionString());
                options.AbortOnConnectFail = false;
                options.ConnectRetry = 3;
                options.ConnectTimeout = 5000;
                options.SyncTimeout = 5000;
                options.AsyncTimeout = 5000;
                multiplexer = await ConnectionMultiplexer.ConnectAsync(options);
            }
            return multiplexer;
        }
        finally
        {
            gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (multiplexer is not null)
            await multiplexer.DisposeAsync();
    }
}
