using BuildGrid.Identity.Storage;
using Microsoft.Extensions.Options;

namespace BuildGrid.Identity.Domain;

/// <summary>Once a day (and at start), a warning in the log for every robot whose token lapses within the warning window or has lapsed.</summary>
internal sealed class RobotExpiryWatch(IdentityStore store, IOptions<IdentityOptions> options, TimeProvider time, ILogger<RobotExpiryWatch> logger)
    : BackgroundService
{
    static readonly TimeSpan Every = TimeSpan.FromDays(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Every, time);
        do
        {
            try
            {
                var now = time.GetUtcNow();
                var horizon = now.Add(options.Value.RobotExpiryWarning).ToUnixTimeMilliseconds();
                foreach (var robot in await store.ListRobotsExpiringAsync(horizon, stoppingToken))
                {
                    var lapse = DateTimeOffset.FromUnixTimeMilliseconds(robot.ExpiresAt!.Value);
                    if (lapse <= now)
                        Log.RobotExpired(logger, robot.Account, lapse);
                    else
                        Log.RobotExpiresSoon(logger, robot.Account, lapse);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Log.RobotCheckFailed(logger, e);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
