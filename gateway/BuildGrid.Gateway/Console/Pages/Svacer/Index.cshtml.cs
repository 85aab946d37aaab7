using BuildGrid.Containers.V1;
using Microsoft.AspNetCore.Mvc;
using ContainersClient = BuildGrid.Containers.V1.Containers.ContainersClient;

namespace BuildGrid.Gateway.Console.Pages.Svacer;

/// <summary>Svacer projects and project groups (the Containers service).</summary>
public sealed class SvacerModel(ConsoleSession session, ContainersClient containers) : ConsolePage(session)
{
    [BindProperty(Name = "q", SupportsGet = true)] public string? Q { get; set; }
    [BindProperty(Name = "after", SupportsGet = true)] public string? After { get; set; }

    public IReadOnlyList<Project> Projects { get; private set; } = [];
    public string NextProjects { get; private set; } = "";
    public IReadOnlyList<ProjectGroup> Groups { get; private set; } = [];

    public async Task OnGetAsync()
    {
        var projects = await containers.ListProjectsAsync(new ListProjectsRequest { PageSize = 100, PageToken = After ?? "", NameContains = Q?.Trim() ?? "" },
            Session.Options());
        Projects = projects.Projects;
        NextProjects = projects.NextPageToken;
        Groups = (await containers.ListProjectGroupsAsync(new ListProjectGroupsRequest { PageSize = 100, NameContains = Q?.Trim() ?? "" }, Session.Options()))
            .ProjectGroups;
    }
}
