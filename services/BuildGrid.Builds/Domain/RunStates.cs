using BuildGrid.Builds.V1;

namespace BuildGrid.Builds.Domain;

/// <summary>
/// The life of a run: queued → running → succeeded | failed | timed_out | cancelled. A running run whose lease lapses
/// goes back to queued (a new attempt) while attempts remain, else fails. Finished states never change.
/// </summary>
public static class RunStates
{
    public static bool IsFinished(RunState state) =>
        state is RunState.Succeeded or RunState.Failed or RunState.TimedOut or RunState.Cancelled;

    /// <summary>The lower-case word used in events and REST answers.</summary>
    public static string Name(RunState state) => state switch
    {
        RunState.Queued => "queued",
        RunState.Running => "running",
        RunState.Succeeded => "succeeded",
        RunState.Failed => "failed",
        RunState.TimedOut => "timed_out",
        RunState.Cancelled => "cancelled",
        _ => "unknown",
    };
}
