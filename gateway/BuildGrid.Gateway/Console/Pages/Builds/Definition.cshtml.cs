using BuildGrid.Builds.V1;
using Microsoft.AspNetCore.Mvc;

namespace BuildGrid.Gateway.Console.Pages.Builds;

/// <summary>A build definition: its services, parameters and script; start a run with inputs; its runs.</summary>
public sealed class DefinitionModel(ConsoleSession session, BuildDefinitions.BuildDefinitionsClient definitions, BuildRuns.BuildRunsClient runs)
    : ConsolePage(session)
{
    [BindProperty(SupportsGet = true)] public string Project { get; set; } = "";
    [BindProperty(SupportsGet = true)] public string Name { get; set; } = "";
    [BindProperty] public string Service { get; set; } = "";
    [BindProperty] public string Tag { get; set; } = "";
    [BindProperty] public List<string> InputKeys { get; set; } = [];
    [BindProperty] public List<string> InputValues { get; set; } = [];

    public Definition Definition { get; private set; } = new();
    public IReadOnlyList<Run> Runs { get; private set; } = [];

    public async Task OnGetAsync()
    {
        Definition = await definitions.GetDefinitionAsync(new GetDefinitionRequest { ProjectKey = Project, Name = Name }, Session.Options());
        Runs = (await runs.ListRunsAsync(new ListRunsRequest { Project = Project, Definition = Name, Page = 1, PageSize = 20 }, Session.Options())).Runs;
    }

    public async Task<IActionResult> OnPostStartAsync()
    {
        var request = new StartDefinitionRunRequest { ProjectKey = Project, Name = Name, Tag = Tag.Trim() };
        if (Service.Split('/', 2) is [var service, var module])
            (request.ServiceName, request.ServiceModule) = (service, module);
        // A field left empty keeps the parameter's default (a credential's default is never sent to the page).
        for (var i = 0; i < InputKeys.Count && i < InputValues.Count; i++)
            if (InputValues[i].Length > 0)
                request.Inputs[InputKeys[i]] = InputValues[i];
        Run? run = null;
        if (await TryAsync(async () => run = await definitions.StartDefinitionRunAsync(request, Session.Options())))
            return LocalRedirect($"/console/runs/{Uri.EscapeDataString(run!.Id)}");
        await OnGetAsync();
        return Page();
    }
}
