using BuildGrid.Projects.V1;
using Google.Protobuf.WellKnownTypes;

namespace BuildGrid.Projects.Domain.Plugins;

/// <summary>
/// A plugin renders one part of a Dockerfile from its parameters. Adding a plugin is one class implementing this, and
/// one line in <see cref="ProjectsExtensions.AddProjects"/>. Every plugin answers "describe" and "render".
/// </summary>
public interface IPlugin
{
    string Name { get; }
    string Summary { get; }
    IReadOnlyList<PluginParameter> Parameters { get; }

    /// <summary>The Dockerfile lines of this step; throws PLUGIN_INVALID_PARAMETERS for bad parameters.</summary>
    string Render(PluginArgs args);

    /// <summary>
    /// Checks what the step reaches outside the build at the time a build renders it (after DNS resolution), beyond
    /// what <see cref="Render"/> can check offline; throws PLUGIN_INVALID_PARAMETERS.
    /// </summary>
    Task CheckTargetsAsync(PluginArgs args, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Plugin-specific methods, beyond describe and render.</summary>
    IReadOnlyList<string> Methods => [];

    Value Invoke(string method, PluginArgs args) =>
        throw new InvalidOperationException($"plugin {Name} has no method {method}");
}
