using BuildGrid.Registry.V1;
using Microsoft.AspNetCore.Mvc;
using RegistryClient = BuildGrid.Registry.V1.Registry.RegistryClient;

namespace BuildGrid.Gateway.Console.Pages.Registry;

public sealed class RepositoryModel(ConsoleSession session, RegistryClient registry) : ConsolePage(session)
{
    [BindProperty(Name = "name", SupportsGet = true)]
    public string Name { get; set; } = "";

    [BindProperty(Name = "after", SupportsGet = true)]
    public string? After { get; set; }

    [BindProperty] public string Tag { get; set; } = "";
    [BindProperty] public bool MakePublic { get; set; }
    [BindProperty] public bool Star { get; set; }
    [BindProperty] public string? Description { get; set; }

    public Repository Repository { get; private set; } = new();
    public IReadOnlyList<Tag> Tags { get; private set; } = [];
    public string Next { get; private set; } = "";

    /// <summary>The registry as this browser reaches it: what a pull command on this machine names.</summary>
    public string RegistryHost => Request.Host.Value ?? "localhost";

    /// <summary>A registry served over plain HTTP needs podman told so.</summary>
    public string PullOptions => Request.IsHttps ? "" : "--tls-verify=false ";

    public async Task OnGetAsync()
    {
        Repository = await registry.GetRepositoryAsync(new GetRepositoryRequest { Name = Name }, Session.Options());
        var tags = await registry.ListTagsAsync(new ListTagsRequest { Repository = Name, PageSize = 100, PageToken = After ?? "" }, Session.Options());
        Tags = tags.Tags;
        Next = tags.NextPageToken;
    }

    public Task<IActionResult> OnPostDeleteTagAsync() => WriteAsync(
        () => registry.DeleteTagAsync(new DeleteTagRequest { Repository = Name, Tag = Tag }, Session.Options()).ResponseAsync,
        $"Tag {Tag} deleted from {Name}.", Back, OnGetAsync);

    public Task<IActionResult> OnPostVisibilityAsync() => WriteAsync(
        () => registry.UpdateRepositoryAsync(new UpdateRepositoryRequest { Name = Name, Public = MakePublic }, Session.Options()).ResponseAsync,
        $"{Name} is now {(MakePublic ? "public" : "private")}.", Back, OnGetAsync);

    public Task<IActionResult> OnPostStarAsync() => WriteAsync(
        () => registry.SetStarAsync(new SetStarRequest { Name = Name, Starred = Star }, Session.Options()).ResponseAsync,
        Star ? $"{Name} starred." : $"{Name} unstarred.", Back, OnGetAsync);

    public Task<IActionResult> OnPostDescriptionAsync() => WriteAsync(
        () => registry.UpdateRepositoryAsync(new UpdateRepositoryRequest
        {
            Name = Name, Description = (Description ?? "").Replace("\r\n", "\n", StringComparison.Ordinal),
        }, Session.Options()).ResponseAsync,
        $"The description of {Name} is saved.", Back, OnGetAsync);

    string Back => $"/console/registry/repository?name={Uri.EscapeDataString(Name)}";
}
