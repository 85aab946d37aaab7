using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Api;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace BuildGrid.Gateway.Dialects;

/// <summary>A request body the gateway could not read; the message names the problem (and the field, if any).</summary>
internal sealed class BadBodyException(string message) : Exception(message);

/// <summary>
/// The one place where REST bodies that arrive as <see cref="HttpBody"/> become request fields. It reads JSON
/// (whatever the Content-Type says), the relaxed JSON of hand-written examples, and form data (<c>a=1&amp;b="x"</c>,
/// where a bare <c>{...}</c> part adds its members). Members bind to fields by JSON name or proto name (exact, then
/// case-insensitive when unambiguous); unknown members are ignored, wrong types are a <see cref="BadBodyException"/>.
/// </summary>
internal static class LenientBody
{
    public const int MaxBytes = 1024 * 1024;

    static readonly JsonDocumentOptions StrictOptions = new() { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip, MaxDepth = 32 };
    static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    /// <summary>Binds the body's members onto <paramref name="target"/> (over what the query set); returns the parsed object.</summary>
    public static JsonObject? MergeInto(IMessage target, HttpBody? body, Func<string, string>? alias = null)
    {
        var root = Parse(body);
        if (root is null)
            return null;
        var fields = target.Descriptor.Fields.InDeclarationOrder();
        foreach (var (rawKey, node) in root)
        {
            var key = alias?.Invoke(rawKey) ?? rawKey;
            var field = Find(fields, key);
            if (field is null || node is null || field.FieldType == FieldType.Message && field.MessageType.FullName == HttpBody.Descriptor.FullName)
                continue;
            Bind(target, field, node);
        }
        return root;
    }

    public static JsonObject? Parse(HttpBody? body)
    {
        if (body is null || body.Data.IsEmpty)
            return null;
        if (body.Data.Length > MaxBytes)
            throw new BadBodyException($"request body is larger than {MaxBytes} bytes");
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(body.Data.Span);
        }
        catch (DecoderFallbackException)
        {
            throw new BadBodyException("request body is not valid UTF-8");
        }
        if (string.IsNullOrWhiteSpace(text))
            return null;
        var node = ParseStrict(text) ?? RelaxedJson.TryParse(text) ?? ParseForm(text)
            ?? throw new BadBodyException("request body is neither JSON nor form data");
        return node as JsonObject ?? throw new BadBodyException("request body must be a JSON object");
    }

    static JsonNode? ParseStrict(string text)
    {
        try
        {
            return JsonNode.Parse(text, documentOptions: StrictOptions);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    static JsonObject? ParseForm(string text)
    {
        if (!text.Contains('='))
            return null;
        var result = new JsonObject();
        foreach (var part in text.Split('&'))
        {
            var trimmed = part.Trim();
            if (trimmed.Length == 0)
                continue;
            if (trimmed.StartsWith('{'))
            {
                if ((ParseStrict(trimmed) ?? RelaxedJson.TryParse(trimmed)) is not JsonObject members)
                    return null;
                foreach (var (key, member) in members.ToList())
                {
                    members.Remove(key);
                    result[key] = member;
                }
                continue;
            }
            var equals = trimmed.IndexOf('=');
            if (equals <= 0)
                return null;
            var name = Uri.UnescapeDataString(trimmed[..equals].Replace('+', ' ')).Trim();
            var value = Uri.UnescapeDataString(trimmed[(equals + 1)..].Replace('+', ' ')).Trim();
            if (value.Length >= 2 && (value[0] == '"' && value[^1] == '"' || value[0] == '\'' && value[^1] == '\''))
                value = value[1..^1];
            result[name] = value.StartsWith('{') || value.StartsWith('[') ? ParseStrict(value) ?? JsonValue.Create(value) : JsonValue.Create(value);
        }
        return result;
    }

    static FieldDescriptor? Find(IList<FieldDescriptor> fields, string key)
    {
        foreach (var field in fields)
        {
            if (field.JsonName == key || field.Name == key)
                return field;
        }
        var loose = fields.Where(f => string.Equals(f.JsonName, key, StringComparison.OrdinalIgnoreCase)
            || string.Equals(f.Name, key, StringComparison.OrdinalIgnoreCase)).ToList();
        return loose.Count == 1 ? loose[0] : null;
    }

    static void Bind(IMessage target, FieldDescriptor field, JsonNode node)
    {
        if (field.IsRepeated)
        {
            var list = (System.Collections.IList)field.Accessor.GetValue(target);
            list.Clear();
            foreach (var item in node is JsonArray array ? array.ToList() : [node])
            {
                if (item is not null)
                    list.Add(Convert(field, item));
            }
            return;
        }
        field.Accessor.SetValue(target, Convert(field, node));
    }

    static object Convert(FieldDescriptor field, JsonNode node)
    {
        var name = field.JsonName;
        switch (field.FieldType)
        {
            case FieldType.String:
                if (node is JsonValue v && v.GetValueKind() is JsonValueKind.String or JsonValueKind.Number)
                    return v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : v.ToJsonString();
                throw new BadBodyException($"{name} must be a string");
            case FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32:
                return (int)Integer(node, name, int.MinValue, int.MaxValue);
            case FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64:
                return Integer(node, name, long.MinValue, long.MaxValue);
            case FieldType.Bool:
                if (node is JsonValue b && b.GetValueKind() is JsonValueKind.True or JsonValueKind.False)
                    return b.GetValue<bool>();
                if (node is JsonValue s && s.GetValueKind() == JsonValueKind.String && bool.TryParse(s.GetValue<string>(), out var parsed))
                    return parsed;
                throw new BadBodyException($"{name} must be true or false");
            case FieldType.Message:
                try
                {
                    return Parser.Parse(node.ToJsonString(), field.MessageType);
                }
                catch (InvalidProtocolBufferException)
                {
                    throw new BadBodyException($"{name} has the wrong shape");
                }
            default:
                throw new BadBodyException($"{name} cannot be set from the body");
        }
    }

    static long Integer(JsonNode node, string name, long min, long max)
    {
        if (node is JsonValue v)
        {
            if (v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<long>(out var n) && n >= min && n <= max)
                return n;
            if (v.GetValueKind() == JsonValueKind.String
                && long.TryParse(v.GetValue<string>(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var s) && s >= min && s <= max)
                return s;
        }
        throw new BadBodyException($"{name} must be an integer");
    }
}
