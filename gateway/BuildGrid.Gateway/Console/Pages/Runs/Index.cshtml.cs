using BuildGrid.Builds.V1;
using Microsoft.AspNetCore.Mvc;

namespace BuildGrid.Gateway.Console.Pages.Runs;

public sealed class RunsModel(ConsoleSession session, BuildRuns.BuildRunsClient runs) : ConsolePage(session)
{
    const int PageSize = 50;

    [BindProperty(Name = "page", SupportsGet = true)]
    public int PageNumber { get; set; } = 1;

    public IReadOnlyList<Run> Runs { get; private set; } = [];
    public long Total { get; private set; }
    public Pager Pager { get; private set; } = Pager.None;

    public async Task OnGetAsync()
    {
        PageNumber = Pager.Clamp(PageNumber);
        var answer = await runs.ListRunsAsync(new ListRunsRequest { Page = PageNumber, PageSize = PageSize }, Session.Options());
        Runs = answer.Runs;
        Total = answer.TotalCount;
        Pager = Pager.Of(PageNumber, Total, PageSize, n => $"/console/runs?page={n}");
    }
}
