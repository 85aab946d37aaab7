using BuildGrid.Registry.V1;
using Microsoft.AspNetCore.Mvc;
using RegistryClient = BuildGrid.Registry.V1.Registry.RegistryClient;

namespace BuildGrid.Gateway.Console.Pages.Registry;

public sealed class NamespacesModel(ConsoleSession session, RegistryClient registry) : ConsolePage(session)
{
    const int PageSize = 50;

    [BindProperty(Name = "q", SupportsGet = true)]
    public string? Q { get; set; }

    [BindProperty(Name = "page", SupportsGet = true)]
    public int PageNumber { get; set; } = 1;

    public IReadOnlyList<Namespace> Namespaces { get; private set; } = [];
    public long Total { get; private set; }
    public Pager Pager { get; private set; } = Pager.None;

    public async Task OnGetAsync()
    {
        PageNumber = Pager.Clamp(PageNumber);
        var answer = await registry.ListNamespacesAsync(new ListNamespacesRequest { Page = PageNumber, PageSize = PageSize, NameContains = Q?.Trim() ?? "" },
            Session.Options());
        Namespaces = answer.Namespaces;
        Total = answer.TotalSize;
        Pager = Pager.Of(PageNumber, Total, PageSize, n => $"/console/registry?page={n}" + (Q is { Length: > 0 } ? "&q=" + Uri.EscapeDataString(Q) : ""));
    }
}
