using System.Globalization;
using BuildGrid.Core.Errors;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace BuildGrid.Projects.Domain.Plugins;

/// <summary>A plugin's parameters with typed, validating getters. Every failure is PLUGIN_INVALID_PARAMETERS naming the parameter.</summary>
public sealed class PluginArgs
{
    readonly Struct values;
    readonly string plugin;

    public PluginArgs(string plugin, Struct? values, IReadOnlyList<V1.PluginParameter> declared)
    {
        this.plugin = plugin;
        this.values = values ?? new Struct();
        foreach (var key in this.values.Fields.Keys)
        {
            if (!declared.Any(p => p.Name == key))
                throw Fail(key, $"unknown parameter '{key}'; {plugin} takes: {string.Join(", ", declared.Select(p => p.Name))}");
        }
        foreach (var parameter in declared.Where(p => p.Required))
        {
            if (!this.values.Fields.TryGetValue(parameter.Name, out var v) || v.KindCase is Value.KindOneofCase.NullValue or Value.KindOneofCase.None)
                throw Fail(parameter.Name, $"parameter '{parameter.Name}' is required");
        }
    }

    public RpcException Fail(string parameter, string message) =>
        Errors.Invalid(Reasons.PluginInvalidParameters, "parameters", $"{plugin}: {message}", ("plugin", plugin), ("parameter", parameter));

    bool TryGet(string name, out Value value) =>
        values.Fields.TryGetValue(name, out value!) && value.KindCase is not (Value.KindOneofCase.NullValue or Value.KindOneofCase.None);

    /// <summary>A single-line string without control characters, or null when absent.</summary>
    public string? Line(string name, int maxLength = 1024)
    {
        if (!TryGet(name, out var value))
            return null;
        var text = value.KindCase switch
        {
            Value.KindOneofCase.StringValue => value.StringValue,
            Value.KindOneofCase.NumberValue => value.NumberValue.ToString(CultureInfo.InvariantCulture),
            Value.KindOneofCase.BoolValue => value.BoolValue ? "true" : "false",
            _ => throw Fail(name, $"parameter '{name}' must be a string"),
        };
        return CheckLine(name, text, maxLength);
    }

    public string RequiredLine(string name, int maxLength = 1024) =>
        Line(name, maxLength) is { Length: > 0 } text ? text : throw Fail(name, $"parameter '{name}' must not be empty");

    /// <summary>Text that may span lines (a script), still without NUL or other control characters than tab and newline.</summary>
    public string? Text(string name, int maxLength = 64 * 1024)
    {
        if (!TryGet(name, out var value))
            return null;
        if (value.KindCase != Value.KindOneofCase.StringValue)
            throw Fail(name, $"parameter '{name}' must be a string");
        var text = value.StringValue;
        if (text.Length > maxLength)
            throw Fail(name, $"parameter '{name}' is longer than {maxLength} characters");
        if (text.Any(c => char.IsControl(c) && c is not ('\n' or '\t' or '\r')))
            throw Fail(name, $"parameter '{name}' contains a control character");
        return text;
    }

    /// <summary>A list of single-line strings; a single string is taken as a list of one (or split on spaces/commas).</summary>
    public IReadOnlyList<string> StringList(string name, int maxItems = 200)
    {
        if (!TryGet(name, out var value))
            return [];
        var items = value.KindCase switch
        {
            Value.KindOneofCase.ListValue => value.ListValue.Values.Select(v => v.KindCase switch
            {
                Value.KindOneofCase.StringValue => v.StringValue,
                Value.KindOneofCase.NumberValue => v.NumberValue.ToString(CultureInfo.InvariantCulture),
                _ => throw Fail(name, $"parameter '{name}' must be a list of strings"),
            }).ToList(),
            Value.KindOneofCase.StringValue => value.StringValue.Split([' ', ',', '\t'], StringSplitOptions.RemoveEmptyEntries).ToList(),
            Value.KindOneofCase.NumberValue => [value.NumberValue.ToString(CultureInfo.InvariantCulture)],
            _ => throw Fail(name, $"parameter '{name}' must be a list of strings"),
        };
        if (items.Count > maxItems)
            throw Fail(name, $"parameter '{name}' has more than {maxItems} items");
        return items.Select(i => CheckLine(name, i, 1024)).ToList();
    }

    /// <summary>A map of single-line strings.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Map(string name)
    {
        if (!TryGet(name, out var value))
            return [];
        if (value.KindCase != Value.KindOneofCase.StructValue)
            throw Fail(name, $"parameter '{name}' must be an object of strings");
        return value.StructValue.Fields.Select(f => new KeyValuePair<string, string>(
            CheckLine(name, f.Key, 256),
            f.Value.KindCase switch
            {
                Value.KindOneofCase.StringValue => CheckLine(name, f.Value.StringValue, 4096),
                Value.KindOneofCase.NumberValue => f.Value.NumberValue.ToString(CultureInfo.InvariantCulture),
                Value.KindOneofCase.BoolValue => f.Value.BoolValue ? "true" : "false",
                _ => throw Fail(name, $"parameter '{name}.{f.Key}' must be a string"),
            })).ToList();
    }

    string CheckLine(string name, string text, int maxLength)
    {
        if (text.Length > maxLength)
            throw Fail(name, $"parameter '{name}' is longer than {maxLength} characters");
        if (text.Any(char.IsControl))
            throw Fail(name, $"parameter '{name}' contains a control character (line breaks are not allowed here)");
        return text;
    }
}
