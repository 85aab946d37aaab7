using BuildGrid.Builds.V1;
using BuildGrid.Projects.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Mvc;
using ProjectsClient = BuildGrid.Projects.V1.Projects.ProjectsClient;

namespace BuildGrid.Gateway.Console.Pages.Projects;

public sealed class ProjectModel(ConsoleSession session, ProjectsClient projects, BuildRuns.BuildRunsClient runs) : ConsolePage(session)
{
    [BindProperty(SupportsGet = true)]
    public string Name { get; set; } = "";

    [BindProperty]
    public string Tag { get; set; } = "latest";

    public Project Project { get; private set; } = new();
    public string Rendered { get; private set; } = "";
    public IReadOnlyList<Run> History { get; private set; } = [];

    public async Task OnGetAsync()
    {
        var options = Session.Options();
        Project = await projects.GetProjectAsync(new GetProjectRequest { Name = Name }, options);
        try
        {
            Rendered = (await projects.RenderDockerfileAsync(new RenderDockerfileRequest { Name = Name }, options)).Dockerfile;
        }
        catch (RpcException e) when (e.StatusCode is Grpc.Core.StatusCode.FailedPrecondition or Grpc.Core.StatusCode.InvalidArgument)
        {
            Rendered = $"(nothing to render: {e.Status.Detail})";
        }
        History = (await runs.ListRunsAsync(new ListRunsRequest { Project = Name, Page = 1, PageSize = 20 }, options)).Runs;
    }

    public async Task<IActionResult> OnPostBuildAsync()
    {
        Run? run = null;
        if (await TryAsync(async () => run = await runs.StartProjectBuildAsync(new StartProjectBuildRequest { Project = Name, Tag = Tag.Trim() }, Session.Options())))
            return LocalRedirect($"/console/runs/{Uri.EscapeDataString(run!.Id)}");
        await OnGetAsync();
        return Page();
    }
}
