using BuildGrid.Core.Errors;
using BuildGrid.Projects.Domain.Plugins;
using BuildGrid.Projects.V1;
using Google.Rpc;

namespace BuildGrid.Projects.Domain;

/// <summary>The Dockerfile of a project: its own text, or its plugin steps rendered in order (the first must be base-image).</summary>
public sealed class DockerfileRenderer(PluginRegistry plugins)
{
    /// <summary>Checks every step renders; throws PLUGIN_* errors naming the step.</summary>
    public void Validate(IReadOnlyList<PluginStep> steps)
    {
        if (steps.Count > ProjectRules.MaxPluginSteps)
            throw Errors.Invalid(Reasons.InvalidArgument, "plugins", $"a project has at most {ProjectRules.MaxPluginSteps} plugin steps");
        foreach (var step in steps)
            plugins.Render(step);
    }

    public string Render(Project project)
    {
        if (project.DockerfileType == DockerfileType.Define)
        {
            return string.IsNullOrWhiteSpace(project.Dockerfile)
                ? throw Errors.Create(Code.FailedPrecondition, Reasons.InvalidArgument,
                    $"project '{project.Name}' defines its own Dockerfile but has none saved", ("field", "dockerfile"))
                : project.Dockerfile;
        }
        if (project.Plugins.Count == 0)
            throw Errors.Create(Code.FailedPrecondition, Reasons.InvalidArgument,
                $"project '{project.Name}' has no plugin steps to render a Dockerfile from", ("field", "plugins"));
        if (!string.Equals(project.Plugins[0].Plugin, "base-image", StringComparison.OrdinalIgnoreCase))
            throw Errors.Create(Code.FailedPrecondition, Reasons.PluginInvalidParameters,
                $"the first plugin step of project '{project.Name}' must be base-image", ("field", "plugins"));
        var lines = new List<string> { $"# Rendered by BuildGrid from the {project.Plugins.Count} plugin steps of project {project.Name}." };
        lines.AddRange(project.Plugins.Select(plugins.Render));
        return string.Join('\n', lines) + "\n";
    }
}
