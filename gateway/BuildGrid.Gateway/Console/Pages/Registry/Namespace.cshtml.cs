using BuildGrid.Registry.V1;
using Microsoft.AspNetCore.Mvc;
using RegistryClient = BuildGrid.Registry.V1.Registry.RegistryClient;

namespace BuildGrid.Gateway.Console.Pages.Registry;

public sealed class NamespaceModel(ConsoleSession session, RegistryClient registry) : ConsolePage(session)
{
    [BindProperty(SupportsGet = true)]
    public string Ns { get; set; } = "";

    [BindProperty(Name = "after", SupportsGet = true)]
    public string? After { get; set; }

    public IReadOnlyList<Repository> Repositories { get; private set; } = [];
    public long Total { get; private set; }
    public string Next { get; private set; } = "";

    public async Task OnGetAsync()
    {
        var answer = await registry.ListRepositoriesAsync(new ListRepositoriesRequest { NamePrefix = Ns + "/", PageSize = 50, PageToken = After ?? "" },
            Session.Options());
        Repositories = answer.Repositories;
        Total = answer.TotalSize;
        Next = answer.NextPageToken;
    }
}
