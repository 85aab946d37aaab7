using BuildGrid.Builds.V1;

namespace BuildGrid.Gateway.Console.Pages;

public sealed class IndexModel(ConsoleSession session, BuildRuns.BuildRunsClient runs, BuildGrid.Registry.V1.Registry.RegistryClient registry)
    : ConsolePage(session)
{
    public IReadOnlyList<Run> Recent { get; private set; } = [];
    public int Waiting { get; private set; }
    public int Running { get; private set; }
    public long Total { get; private set; }
    public int Workers { get; private set; }
    public long Namespaces { get; private set; }
    public BuildGrid.Registry.V1.RegistryUsage Usage { get; private set; } = new();

    public async Task OnGetAsync()
    {
        var page = await runs.ListRunsAsync(new ListRunsRequest { Page = 1, PageSize = 20 }, Session.Options());
        Recent = page.Runs;
        Total = page.TotalCount;
        Waiting = page.Runs.Count(r => r.State == RunState.Queued);
        Running = page.Runs.Count(r => r.State == RunState.Running);
        Workers = page.Runs.Where(r => r.State == RunState.Running && r.Worker.Length > 0).Select(r => r.Worker).Distinct().Count();
        Namespaces = (await registry.ListNamespacesAsync(new BuildGrid.Registry.V1.ListNamespacesRequest { Page = 1, PageSize = 1 }, Session.Options())).TotalSize;
        Usage = await registry.GetUsageAsync(new BuildGrid.Registry.V1.GetUsageRequest { RecentPushes = 10 }, Session.Options());
    }
}
