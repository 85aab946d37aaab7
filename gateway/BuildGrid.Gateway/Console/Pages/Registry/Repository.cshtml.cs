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

    public async Task<IActionResult> OnPostDeleteTagAsync()
    {
        if (await TryAsync(() => registry.DeleteTagAsync(new DeleteTagRequest { Repository = Name, Tag = Tag }, Session.Options()).ResponseAsync))
        {
            Notice = $"Tag {Tag} deleted from {Name}.";
            return Back();
        }
        await OnGetAsync();
        return Page();
    }

    public async Task<IActionResult> OnPostVisibilityAsync()
    {
        if (await TryAsync(() => registry.UpdateRepositoryAsync(new UpdateRepositoryRequest { Name = Name, Public = MakePublic }, Session.Options()).ResponseAsync))
        {
            Notice = $"{Name} is now {(MakePublic ? "public" : "private")}.";
            return Back();
        }
        await OnGetAsync();
        return Page();
    }

    public async Task<IActionResult> OnPostStarAsync()
    {
        if (await TryAsync(() => registry.SetStarAsync(new SetStarRequest { Name = Name, Starred = Star }, Session.Options()).ResponseAsync))
        {
            Notice = Star ? $"{Name} starred." : $"{Name} unstarred.";
            return Back();
        }
        await OnGetAsync();
        return Page();
    }

    public async Task<IActionResult> OnPostDescriptionAsync()
    {
        var text = (Description ?? "").Replace("\r\n", "\n", StringComparison.Ordinal);
        if (await TryAsync(() => registry.UpdateRepositoryAsync(new UpdateRepositoryRequest { Name = Name, Description = text }, Session.Options()).ResponseAsync))
        {
            Notice = $"The description of {Name} is saved.";
            return Back();
        }
        await OnGetAsync();
        return Page();
    }

    IActionResult Back() => LocalRedirect($"/console/registry/repository?name={Uri.EscapeDataString(Name)}");
}
