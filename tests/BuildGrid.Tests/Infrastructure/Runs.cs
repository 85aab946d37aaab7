using BuildGrid.Builds.V1;

namespace BuildGrid.Tests.Infrastructure;

public static class Runs
{
    /// <summary>Polls a run until <paramref name="done"/> holds; fails with the run's last state and log after the bound.</summary>
    public static async Task<Run> WaitAsync(BuildRuns.BuildRunsClient client, string id, Func<Run, bool> done, int timeoutSeconds = 60,
        Grpc.Core.Metadata? headers = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (true)
        {
            var run = await client.GetRunAsync(new GetRunRequest { Id = id }, headers);
            if (done(run))
                return run;
            if (DateTime.UtcNow > deadline)
            {
                var log = await client.ReadRunLogAsync(new ReadRunLogRequest { Id = id, MaxLines = 10000 }, headers);
                throw new TimeoutException($"run {id} is {run.State} ({run.FailureReason}) after {timeoutSeconds}s; log:\n" +
                    string.Join('\n', log.Lines.Select(l => l.Text)));
            }
            await Task.Delay(50);
        }
    }

    public static Task<Run> FinishedAsync(BuildRuns.BuildRunsClient client, string id, int timeoutSeconds = 60, Grpc.Core.Metadata? headers = null) =>
        WaitAsync(client, id, r => r.State is RunState.Succeeded or RunState.Failed or RunState.TimedOut or RunState.Cancelled, timeoutSeconds, headers);

    public static async Task<string> LogAsync(BuildRuns.BuildRunsClient client, string id, Grpc.Core.Metadata? headers = null) =>
        string.Join('\n', (await client.ReadRunLogAsync(new ReadRunLogRequest { Id = id, MaxLines = 10000 }, headers)).Lines.Select(l => l.Text));

    public static RunSpec Script(string script, int timeoutSeconds = 120) => new() { Script = script, TimeoutSeconds = timeoutSeconds };
}
