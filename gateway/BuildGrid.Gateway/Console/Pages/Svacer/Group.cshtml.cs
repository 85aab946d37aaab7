using BuildGrid.Containers.V1;
using Microsoft.AspNetCore.Mvc;
using ContainersClient = BuildGrid.Containers.V1.Containers.ContainersClient;

namespace BuildGrid.Gateway.Console.Pages.Svacer;

/// <summary>A Svacer project group and its member projects.</summary>
public sealed class SvacerGroupModel(ConsoleSession session, ContainersClient containers) : ConsolePage(session)
{
    [BindProperty(SupportsGet = true)] public string Id { get; set; } = "";

    public ProjectGroup Group { get; private set; } = new();
    public IReadOnlyList<Project> Members { get; private set; } = [];

    public async Task OnGetAsync()
    {
        Group = await containers.GetProjectGroupAsync(new GetProjectGroupRequest { Id = Id }, Session.Options());
        Members = (await containers.ListProjectsAsync(new ListProjectsRequest { ProjectGroupId = Id, PageSize = 100 }, Session.Options())).Projects;
    }
}
