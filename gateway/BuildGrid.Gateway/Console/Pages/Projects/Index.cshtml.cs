using BuildGrid.Projects.V1;
using Microsoft.AspNetCore.Mvc;

namespace BuildGrid.Gateway.Console.Pages.Projects;

public sealed class ProjectsModel(ConsoleSession session, BuildGrid.Projects.V1.Projects.ProjectsClient projects) : ConsolePage(session)
{
    public const int PageSize = 50;

    [BindProperty(Name = "q", SupportsGet = true)]
    public string? Q { get; set; }

    [BindProperty(Name = "page", SupportsGet = true)]
    public int PageNumber { get; set; } = 1;

    public IReadOnlyList<Project> Projects { get; private set; } = [];
    public long Total { get; private set; }
    public Pager Pager { get; private set; } = Pager.None;

    public async Task OnGetAsync()
    {
        PageNumber = Pager.Clamp(PageNumber);
        var answer = await projects.ListProjectsAsync(new ListProjectsRequest { Page = PageNumber, PageSize = PageSize, NameContains = Q?.Trim() ?? "" },
            Session.Options());
        Projects = answer.Projects;
        Total = answer.TotalCount;
        Pager = Pager.Of(PageNumber, Total, PageSize, n => $"/console/projects?page={n}" + (Q is { Length: > 0 } ? "&q=" + Uri.EscapeDataString(Q) : ""));
    }
}
