using Microsoft.Extensions.Options;

namespace BuildGrid.Builds.Worker;

/// <summary>
/// Stops a worker process (Builds:Workers above 0) at start when its sandbox cannot run, with one line saying why, so that
/// no build ever runs unsandboxed by accident; warns on every start with Builds:Sandbox=none.
/// </summary>
public sealed class SandboxCheck(LocalSandbox sandbox, IOptions<BuildsOptions> options, ILogger<SandboxCheck> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.Workers == 0)
            return;
        if (sandbox.Disabled)
        {
            Log.Unsandboxed(logger);
            return;
        }
        try
        {
            await sandbox.CheckAsync(cancellationToken);
            sandbox.Warm();
        }
        catch (InvalidOperationException e)
        {
            if (options.Value.WithoutSandbox == "fail-runs")
            {
                sandbox.Unavailable = e.Message.TrimEnd('.');
                Log.SandboxUnavailableRunsFail(logger, sandbox.Unavailable);
                return;
            }
            Log.SandboxUnavailable(logger, e.Message);
            throw;
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
