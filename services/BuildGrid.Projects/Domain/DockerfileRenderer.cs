using System.Text.RegularExpressions;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Networking;
using BuildGrid.Projects.Domain.Plugins;
using BuildGrid.Projects.V1;
using System.Globalization;
using Google.Rpc;
using Grpc.Core;

namespace BuildGrid.Projects.Domain;

/// <summary>The Dockerfile of a project: its own text, or its plugin steps rendered in order (the first must be base-image).</summary>
public sealed partial class DockerfileRenderer(PluginRegistry plugins, [FromKeyedServices(ProjectsOptions.Downloads)] NetworkPolicy downloads)
{
    /// <summary>
    /// What a build of the plugin list would refuse, refused at save: the first step must be base-image, every step's
    /// plugin must exist and its parameters render, and a copy-file step needs a build context to copy from. Throws
    /// PLUGIN_* errors whose message names the step ("step 3 (copy-file): ...") and whose metadata carries it.
    /// </summary>
    public void Validate(IReadOnlyList<PluginStep> steps, bool hasBuildContext = false)
    {
        if (steps.Count > ProjectRules.MaxPluginSteps)
            throw Errors.Invalid(Reasons.InvalidArgument, "plugins", $"a project has at most {ProjectRules.MaxPluginSteps} plugin steps");
        for (var i = 0; i < steps.Count; i++)
        {
            var step = steps[i];
            var label = $"step {i + 1} ({(string.IsNullOrWhiteSpace(step.Plugin) ? "no plugin" : step.Plugin.Trim())})";
            try
            {
                plugins.Render(step);
            }
            catch (RpcException e) when (e.Info() is { Reason: Reasons.PluginInvalidParameters or Reasons.PluginNotFound } info)
            {
                throw Errors.Create(e.StatusCode == StatusCode.NotFound ? Code.NotFound : Code.InvalidArgument, info.Reason,
                    $"{label}: {e.Status.Detail}", [.. info.Metadata.Select(m => (m.Key, m.Value)), ("step", (i + 1).ToString(CultureInfo.InvariantCulture))]);
            }
            if (i == 0 && !IsBaseImage(step))
                throw StepError(i, $"{label}: the first plugin step must be base-image (the FROM every build starts from)");
            if (!hasBuildContext && string.Equals(step.Plugin?.Trim(), "copy-file", StringComparison.OrdinalIgnoreCase))
                throw StepError(i, $"{label}: copies from the build context, but the project has none; save a buildContext "
                    + "(gitUrl and gitRef) or upload a context archive first");
        }
    }

    static bool IsBaseImage(PluginStep step) => string.Equals(step.Plugin?.Trim(), "base-image", StringComparison.OrdinalIgnoreCase);

    static RpcException StepError(int index, string message) =>
        Errors.Create(Code.InvalidArgument, Reasons.PluginInvalidParameters, message, ("field", "plugins"),
            ("step", (index + 1).ToString(CultureInfo.InvariantCulture)));

    /// <summary>
    /// The Dockerfile a build of the project runs. Every URL an ADD fetches (buildah fetches it on the host's network)
    /// and the git build context's host are checked against the download policy now, after DNS resolution: a plugin
    /// step's as PLUGIN_INVALID_PARAMETERS, a defined Dockerfile's and the context's as INVALID_ARGUMENT, naming them.
    /// </summary>
    public async Task<string> RenderAsync(Project project, CancellationToken cancellationToken)
    {
        // The worker clones a git build context on the host's network: its host is held to the same policy, now.
        if (project.BuildContext is { GitUrl.Length: > 0 } context && ProjectRules.GitRemote(context.GitUrl) is { } remote
            && await downloads.CheckUrlAsync(remote, cancellationToken) is { } refused)
            throw Errors.Invalid(Reasons.InvalidArgument, "build_context.git_url", $"the build context's git host {remote.IdnHost} is refused: {refused}");
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
