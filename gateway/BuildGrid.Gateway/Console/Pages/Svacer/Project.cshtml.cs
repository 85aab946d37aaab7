using BuildGrid.Containers.V1;
using Microsoft.AspNetCore.Mvc;
using ContainersClient = BuildGrid.Containers.V1.Containers.ContainersClient;

namespace BuildGrid.Gateway.Console.Pages.Svacer;

/// <summary>A Svacer project: its groups, its branches and each branch's latest snapshots.</summary>
public sealed class SvacerProjectModel(ConsoleSession session, ContainersClient containers) : ConsolePage(session)
{
    [BindProperty(SupportsGet = true)] public string Id { get; set; } = "";

    public Project Project { get; private set; } = new();
    public IReadOnlyList<ProjectGroup> Groups { get; private set; } = [];
    public IReadOnlyList<(Branch Branch, IReadOnlyList<Snapshot> Snapshots)> Branches { get; private set; } = [];

    public async Task OnGetAsync()
    {
        Project = await containers.GetProjectAsync(new GetProjectRequest { Id = Id }, Session.Options());
        Groups = (await containers.ListProjectGroupsAsync(new ListProjectGroupsRequest { ProjectId = Id, PageSize = 100 }, Session.Options())).ProjectGroups;
        var branches = (await containers.ListBranchesAsync(new ListBranchesRequest { ProjectId = Id, PageSize = 50 }, Session.Options())).Branches;
        var list = new List<(Branch, IReadOnlyList<Snapshot>)>();
        foreach (var branch in branches)
            list.Add((branch, (await containers.ListSnapshotsAsync(new ListSnapshotsRequest { BranchId = branch.Id, PageSize = 20 }, Session.Options())).Snapshots));
        Branches = list;
    }
}
