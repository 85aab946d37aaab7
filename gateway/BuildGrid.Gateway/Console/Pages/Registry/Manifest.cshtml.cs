using BuildGrid.Registry.V1;
using Microsoft.AspNetCore.Mvc;
using RegistryClient = BuildGrid.Registry.V1.Registry.RegistryClient;

namespace BuildGrid.Gateway.Console.Pages.Registry;

public sealed class ManifestModel(ConsoleSession session, RegistryClient registry) : ConsolePage(session)
{
    [BindProperty(Name = "name", SupportsGet = true)]
    public string Name { get; set; } = "";

    [BindProperty(Name = "ref", SupportsGet = true)]
    public string Reference { get; set; } = "";

    public Manifest Manifest { get; private set; } = new();

    public async Task OnGetAsync() =>
        Manifest = await registry.GetManifestAsync(new GetManifestRequest { Repository = Name, Reference = Reference, IncludeConfig = true }, Session.Options());
}
