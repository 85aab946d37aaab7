using BuildGrid.Core.Errors;
using BuildGrid.Projects.V1;
using Google.Protobuf.WellKnownTypes;

namespace BuildGrid.Projects.Domain.Plugins;

/// <summary>The plugins by name, and the two methods every plugin has: describe and render.</summary>
public sealed class PluginRegistry
{
    readonly Dictionary<string, IPlugin> plugins;

    public PluginRegistry(IEnumerable<IPlugin> plugins) =>
        this.plugins = plugins.ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);

    public IEnumerable<IPlugin> All => plugins.Values.OrderBy(p => p.Name, StringComparer.Ordinal);

    public IPlugin Get(string? name) =>
        !string.IsNullOrWhiteSpace(name) && plugins.TryGetValue(name.Trim(), out var plugin)
            ? plugin
            : throw Errors.Create(Google.Rpc.Code.NotFound, Reasons.PluginNotFound,
                $"unknown plugin '{name}'; available: {string.Join(", ", All.Select(p => p.Name))}", ("plugin", name ?? ""));

    public static PluginDescription Describe(IPlugin plugin) => new()
    {
        Name = plugin.Name,
        Summary = plugin.Summary,
        Parameters = { plugin.Parameters },
        Methods = { plugin.Methods },
    };

    public string Render(PluginStep step)
    {
        var plugin = Get(step.Plugin);
        return plugin.Render(new PluginArgs(plugin.Name, step.Parameters, plugin.Parameters));
    }

    /// <summary>Renders a step as a build does: its text, after its outside targets are checked now.</summary>
    public async Task<string> RenderForBuildAsync(PluginStep step, CancellationToken cancellationToken)
    {
        var plugin = Get(step.Plugin);
        var args = new PluginArgs(plugin.Name, step.Parameters, plugin.Parameters);
        var text = plugin.Render(args);
        await plugin.CheckTargetsAsync(args, cancellationToken);
        return text;
    }

    public Value Invoke(string pluginName, string? method, Struct? parameters)
    {
        var plugin = Get(pluginName);
        switch (method?.Trim().ToLowerInvariant())
        {
            case "describe":
                return Value.Parser.ParseJson(Google.Protobuf.JsonFormatter.Default.Format(Describe(plugin)));
            case "render":
                return Value.ForString(plugin.Render(new PluginArgs(plugin.Name, parameters, plugin.Parameters)));
            case var m when m is not null && plugin.Methods.Contains(m, StringComparer.OrdinalIgnoreCase):
                return plugin.Invoke(m, new PluginArgs(plugin.Name, parameters, plugin.Parameters));
            default:
                throw Errors.Create(Google.Rpc.Code.NotFound, Reasons.PluginMethodNotFound,
                    $"plugin '{plugin.Name}' has no method '{method}'; methods: {string.Join(", ", ["describe", "render", .. plugin.Methods])}",
                    ("plugin", plugin.Name), ("method", method ?? ""));
        }
    }
}
