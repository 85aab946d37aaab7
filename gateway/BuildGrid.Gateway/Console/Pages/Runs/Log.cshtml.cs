using BuildGrid.Builds.V1;
using Microsoft.AspNetCore.Mvc;

namespace BuildGrid.Gateway.Console.Pages.Runs;

/// <summary>The stored log of a run, a page of lines at a time (what a log of 100,000 lines needs).</summary>
public sealed class RunLogModel(ConsoleSession session, BuildRuns.BuildRunsClient runs) : ConsolePage(session)
{
    public const int PageLines = 1000;

    [BindProperty(SupportsGet = true)]
    public string Id { get; set; } = "";

    [BindProperty(Name = "from", SupportsGet = true)]
    public long From { get; set; }

    public IReadOnlyList<LogLine> Lines { get; private set; } = [];
    public bool Complete { get; private set; }

    public async Task OnGetAsync()
    {
        From = Math.Max(0, From);
        var answer = await runs.ReadRunLogAsync(new ReadRunLogRequest { Id = Id, FromLine = From, MaxLines = PageLines }, Session.Options());
        Lines = answer.Lines;
        Complete = answer.Complete;
    }
}
