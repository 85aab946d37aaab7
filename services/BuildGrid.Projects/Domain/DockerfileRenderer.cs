using System.Text.RegularExpressions;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Networking;
using BuildGrid.Projects.Domain.Plugins;
using BuildGrid.Projects.V1;
using Google.Rpc;

namespace BuildGrid.Projects.Domain;

/// <summary>The Dockerfile of a project: its own text, or its plugin steps rendered in order (the first must be base-image).</summary>
public sealed partial class DockerfileRenderer(PluginRegistry plugins, [FromKeyedServices(ProjectsOptions.Downloads)] NetworkPolicy downloads)
{
    /// <summary>Checks every step renders; throws PLUGIN_* errors naming the step.</summary>
    public void Validate(IReadOnlyList<PluginStep> steps)
    {
        if (steps.Count > ProjectRules.MaxPluginSteps)
            throw Errors.Invalid(Reasons.InvalidArgument, "plugins", $"a project has at most {ProjectRules.MaxPluginSteps} plugin steps");
        foreach (var step in steps)
            plugins.Render(step);
    }

    /// <summary>
    /// The Dockerfile a build of the project runs. Every URL an ADD fetches (buildah fetches it on the host's network)
    /// is checked against the download policy now, after DNS resolution: a plugin step's as PLUGIN_INVALID_PARAMETERS,
    /// a defined Dockerfile's as INVALID_ARGUMENT, both naming the URL.
    /// </summary>
    public async Task<string> RenderAsync(Project project, CancellationToken cancellationToken)
    {
        if (project.DockerfileType == DockerfileType.Define)
        {
            if (string.IsNullOrWhiteSpace(project.Dockerfile))
                throw Errors.Create(Code.FailedPrecondition, Reasons.InvalidArgument,
                    $"project '{project.Name}' defines its own Dockerfile but has none saved", ("field", "dockerfile"));
            foreach (Match add in AddUrl().Matches(project.Dockerfile))
            {
                var text = add.Groups["url"].Value;
                if (NetworkPolicy.TryParseHttpUrl(text, out var url) && await downloads.CheckUrlAsync(url, cancellationToken) is { } refusal)
                    throw Errors.Invalid(Reasons.InvalidArgument, "dockerfile", $"the Dockerfile's ADD {url.AbsoluteUri} is refused: {refusal}");
            }
            return project.Dockerfile;
        }
        if (project.Plugins.Count == 0)
            throw Errors.Create(Code.FailedPrecondition, Reasons.InvalidArgument,
                $"project '{project.Name}' has no plugin steps to render a Dockerfile from", ("field", "plugins"));
        if (!string.Equals(project.Plugins[0].Plugin, "base-image", StringComparison.OrdinalIgnoreCase))
            throw Errors.Create(Code.FailedPrecondition, Reasons.PluginInvalidParameters,
                $"the first plugin step of project '{project.Name}' must be base-image", ("field", "plugins"));
        var lines = new List<string> { $"# Rendered by BuildGrid from the {project.Plugins.Count} plugin steps of project {project.Name}." };
        foreach (var step in project.Plugins)
            lines.Add(await plugins.RenderForBuildAsync(step, cancellationToken));
        return string.Join('\n', lines) + "\n";
    }

    /// <summary>An http(s) URL in an ADD instruction, in shell or JSON form (case-insensitive, as the instruction is).</summary>
    [GeneratedRegex(@"^[ \t]*ADD\b[^\n]*?[\s""\[](?<url>https?://[^\s""\],]+)", RegexOptions.Multiline | RegexOptions.IgnoreCase)]
    private static partial Regex AddUrl();
}
