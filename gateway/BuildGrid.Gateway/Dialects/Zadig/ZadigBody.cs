using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BuildGrid.Builds.V1;
using Google.Api;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;

namespace BuildGrid.Gateway.Dialects.Zadig;

/// <summary>
/// Binds a Zadig build body onto a domain message field by field, so that a wrong type is a <see cref="BadBodyException"/>
/// naming the field's path (<c>docker_build_step.enable_buildkit must be true or false</c>). Reads the variants seed 002
/// itself shows: booleans as true or "true", a one-item array where the table says []X but the example sends an
/// object (docker_build_step, advanced_settings), and installs as a list of {name, version} or a "go 1.20, node 18"
/// string (the table's type). Unknown members are ignored (as Zadig's binding does); timestamps are never read from a body.
/// </summary>
internal static class ZadigBody
{
    public static T Read<T>(HttpBody? body) where T : IMessage<T>, new()
    {
        var root = LenientBody.Parse(body) ?? throw new BadBodyException("the request body is required: a JSON object");
        var target = new T();
        Bind(target, root, "");
        return target;
    }

    static void Bind(IMessage target, JsonObject json, string path)
    {
        var fields = target.Descriptor.Fields.InDeclarationOrder();
        foreach (var (key, node) in json)
        {
            var field = fields.FirstOrDefault(f => f.Name == key || f.JsonName == key);
            if (field is null || node is null || IsTimestamp(field))
                continue;
            var fieldPath = path.Length == 0 ? field.Name : $"{path}.{field.Name}";
            if (field.IsMap)
            {
                var map = (System.Collections.IDictionary)field.Accessor.GetValue(target);
                if (node is not JsonObject entries)
                    throw new BadBodyException($"{fieldPath} must be an object of strings");
                foreach (var (name, value) in entries)
                    map[name] = Text(value, $"{fieldPath}.{name}");
            }
            else if (field.IsRepeated)
            {
                var list = (System.Collections.IList)field.Accessor.GetValue(target);
                list.Clear();
                if (node is JsonValue text && text.GetValueKind() == JsonValueKind.String && field.FieldType == FieldType.Message
                    && field.MessageType.FullName == Install.Descriptor.FullName)
                {
                    foreach (var install in Installs(text.GetValue<string>()))
                        list.Add(install);
                    continue;
                }
                if (node is not JsonArray items)
                    throw new BadBodyException($"{fieldPath} must be an array");
                for (var i = 0; i < items.Count; i++)
                {
                    if (items[i] is { } item)
                        list.Add(Convert(field, item, $"{fieldPath}[{i}]"));
                }
            }
            else
            {
                var single = node;
                if (field.FieldType == FieldType.Message && node is JsonArray array)
                {
                    if (array.Count == 0)
                        continue;
                    if (array.Count > 1)
                        throw new BadBodyException($"{fieldPath} must be one object, not {array.Count}");
                    single = array[0]!;
                }
                field.Accessor.SetValue(target, Convert(field, single, fieldPath));
            }
        }
    }

    static bool IsTimestamp(FieldDescriptor field) =>
        field.FieldType == FieldType.Message && field.MessageType.FullName == Timestamp.Descriptor.FullName;

    static object Convert(FieldDescriptor field, JsonNode node, string path)
    {
        switch (field.FieldType)
        {
            case FieldType.String:
                return Text(node, path);
            case FieldType.Int32:
                return (int)Integer(node, path, int.MinValue, int.MaxValue);
            case FieldType.Int64:
                return Integer(node, path, long.MinValue, long.MaxValue);
            case FieldType.Bool:
                if (node is JsonValue b && b.GetValueKind() is JsonValueKind.True or JsonValueKind.False)
                    return b.GetValue<bool>();
                if (node is JsonValue s && s.GetValueKind() == JsonValueKind.String && bool.TryParse(s.GetValue<string>(), out var parsed))
                    return parsed;
                throw new BadBodyException($"{path} must be true or false");
            case FieldType.Message when node is JsonObject members:
                var message = field.MessageType.Parser.ParseFrom(ByteString.Empty);
                Bind(message, members, path);
                return message;
            case FieldType.Message:
                throw new BadBodyException($"{path} must be an object");
            default:
                throw new BadBodyException($"{path} cannot be set");
        }
    }

    static string Text(JsonNode? node, string path)
    {
        if (node is JsonValue value)
        {
            switch (value.GetValueKind())
            {
                case JsonValueKind.String:
                    return value.GetValue<string>();
            }
        }
        // As Zadig's JSON binding (encoding/json): a number or a boolean where a string belongs is refused, not converted.
        throw new BadBodyException($"{path} must be a string");
    }

    static long Integer(JsonNode node, string path, long min, long max)
    {
        if (node is JsonValue value)
        {
            if (value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<long>(out var n) && n >= min && n <= max)
                return n;
            if (value.GetValueKind() == JsonValueKind.String
                && long.TryParse(value.GetValue<string>(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var s) && s >= min && s <= max)
                return s;
        }
        throw new BadBodyException($"{path} must be an integer");
    }

    /// <summary>"go 1.20.7, node:18" → {go, 1.20.7}, {node, 18}.</summary>
    static IEnumerable<Install> Installs(string text)
    {
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = item.Split([' ', ':', '@'], 2, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            yield return new Install { Name = parts[0], Version = parts.Length > 1 ? parts[1] : "" };
        }
    }
}
