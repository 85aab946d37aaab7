using BuildGrid.Builds.V1;
using Microsoft.AspNetCore.Mvc;

namespace BuildGrid.Gateway.Console.Pages.Builds;

/// <summary>Zadig-style build definitions of a project (or of every project the caller may read).</summary>
public sealed class DefinitionsModel(ConsoleSession session, BuildDefinitions.BuildDefinitionsClient definitions) : ConsolePage(session)
{
    const int PageSize = 50;

    [BindProperty(Name = "project", SupportsGet = true)] public string? Project { get; set; }
    [BindProperty(Name = "page", SupportsGet = true)] public int PageNumber { get; set; } = 1;

    public IReadOnlyList<Definition> Definitions { get; private set; } = [];
    public long Total { get; private set; }
    public Pager Pager { get; private set; } = Pager.None;

    public async Task OnGetAsync()
    {
        PageNumber = Pager.Clamp(PageNumber);
        var answer = await definitions.ListDefinitionsAsync(new ListDefinitionsRequest { ProjectKey = Project?.Trim() ?? "", Page = PageNumber, PageSize = PageSize },
            Session.Options());
        Definitions = answer.Definitions;
        Total = answer.Total;
        Pager = Pager.Of(PageNumber, Total, PageSize, n => $"/console/definitions?page={n}" + (Project is { Length: > 0 } ? "&project=" + Uri.EscapeDataString(Project) : ""));
    }
}
