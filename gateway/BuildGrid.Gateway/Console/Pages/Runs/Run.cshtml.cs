using BuildGrid.Builds.V1;
using Microsoft.AspNetCore.Mvc;

namespace BuildGrid.Gateway.Console.Pages.Runs;

public sealed class RunModel(ConsoleSession session, BuildRuns.BuildRunsClient runs) : ConsolePage(session)
{
    /// <summary>How many lines the live view keeps in the page (older ones are on the paged log page).</summary>
    public const int LiveLines = 5000;

    [BindProperty(SupportsGet = true)]
    public string Id { get; set; } = "";

    public Run Run { get; private set; } = new();

    public async Task OnGetAsync()
    {
        // The log is streamed into the page by console.js (/console/runs/{id}/log/stream); without script, the log page pages it.
        Run = await runs.GetRunAsync(new GetRunRequest { Id = Id }, Session.Options());
    }

    public async Task<IActionResult> OnPostCancelAsync()
    {
        if (await TryAsync(() => runs.CancelRunAsync(new CancelRunRequest { Id = Id }, Session.Options()).ResponseAsync))
        {
            Notice = "Cancel requested.";
            return LocalRedirect($"/console/runs/{Uri.EscapeDataString(Id)}");
        }
        await OnGetAsync();
        return Page();
    }

    public async Task<IActionResult> OnPostRebuildAsync()
    {
        var old = await runs.GetRunAsync(new GetRunRequest { Id = Id }, Session.Options());
        Run? run = null;
        if (await TryAsync(async () => run = await runs.StartProjectBuildAsync(new StartProjectBuildRequest { Project = old.Project, Tag = old.Tag }, Session.Options())))
        {
            Notice = $"Rebuild of {old.Project}:{old.Tag} queued.";
            return LocalRedirect($"/console/runs/{Uri.EscapeDataString(run!.Id)}");
        }
        await OnGetAsync();
        return Page();
    }
}
