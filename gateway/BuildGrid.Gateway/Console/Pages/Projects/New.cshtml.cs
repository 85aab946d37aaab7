using System.Text.Json;
using BuildGrid.Projects.V1;
using Google.Protobuf;
using Microsoft.AspNetCore.Mvc;
using ProjectsClient = BuildGrid.Projects.V1.Projects.ProjectsClient;

namespace BuildGrid.Gateway.Console.Pages.Projects;

public sealed class NewProjectModel(ConsoleSession session, ProjectsClient projects) : ConsolePage(session)
{
    [BindProperty] public string Name { get; set; } = "";
    [BindProperty] public string Cluster { get; set; } = "";
    [BindProperty] public string Kind { get; set; } = "plugins";
    [BindProperty] public string Plugins { get; set; } = """[{"plugin": "base-image", "parameters": {"image": "scratch"}}]""";
    [BindProperty] public string Dockerfile { get; set; } = "FROM scratch\n";

    public IReadOnlyList<PluginDescription> Available { get; private set; } = [];

    public async Task OnGetAsync() =>
        Available = (await projects.ListPluginsAsync(new ListPluginsRequest(), Session.Options())).Plugins;

    public async Task<IActionResult> OnPostAsync()
    {
        var request = new SaveProjectRequest
        {
            Mode = SaveProjectRequest.Types.Mode.Add, Name = Name.Trim(), Cluster = Cluster.Trim(),
        };
        if (Kind == "dockerfile")
        {
            request.DockerfileType = DockerfileType.Define;
            request.Dockerfile = Dockerfile.ReplaceLineEndings("\n");
        }
        else
        {
            request.DockerfileType = DockerfileType.Plugin;
            if (ParseSteps(Plugins) is { } steps)
                request.Plugins.AddRange(steps);
        }
        if (ModelState.IsValid && await TryAsync(() => projects.SaveProjectAsync(request, Session.Options()).ResponseAsync))
        {
            Notice = $"Project {request.Name} created.";
            return LocalRedirect($"/console/projects/{Uri.EscapeDataString(request.Name)}");
        }
        await OnGetAsync();
        return Page();
    }

    /// <summary>The plugin steps of the form, or null with the reason in the model state.</summary>
    List<PluginStep>? ParseSteps(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json.Trim().Length == 0 ? "[]" : json);
            if (document.RootElement.ValueKind != JsonValueKind.Array)
                throw new JsonException("the plugin steps must be a JSON list");
            return document.RootElement.EnumerateArray().Select(e => JsonParser.Default.Parse<PluginStep>(e.GetRawText())).ToList();
        }
        catch (Exception e) when (e is JsonException or InvalidProtocolBufferException or InvalidJsonException)
        {
            ModelState.AddModelError(nameof(Plugins), $"Plugin steps: {e.Message}");
            return null;
        }
    }
}
