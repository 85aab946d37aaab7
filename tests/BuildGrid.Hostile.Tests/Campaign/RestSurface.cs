using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace BuildGrid.Hostile.Tests.Campaign;

/// <summary>
/// The REST requests: every operation of the host's own <c>/openapi.json</c> (the five dialects and /buildgrid/v1), each
/// with a plausible request built from its parameters and body schema — or from the seed document example whose keys
/// match it best — and then mutated: hostile path segments and query values, wrong-typed, missing, extra, huge and
/// deeply nested body fields, broken JSON, invalid UTF-8, bad content types, wrong methods, hostile headers.
/// Plus every URL of the seeds' curl examples with hostile query values.
/// </summary>
public sealed partial class RestSurface(JsonObject openApi, IReadOnlyList<string> seedTexts, HostileValues hostile)
{
    public const int PerOperation = 48;

    readonly JsonObject schemas = openApi["components"]?["schemas"]?.AsObject() ?? [];
    readonly List<JsonObject> seedBodies = SeedJson(seedTexts);
    int counter;

    /// <summary>
    /// Each create or update operation once, unmutated, so that the hostile requests that follow (which use the same
    /// plausible names) aim at stored rows: an injection that deleted or changed them would show in the row check.
    /// </summary>
    public IEnumerable<HttpShot> BaselineShots()
    {
        foreach (var (path, item) in openApi["paths"]!.AsObject())
        {
            foreach (var (verb, operationNode) in item!.AsObject())
            {
                if (verb is not ("post" or "put") || path.Contains("delete", StringComparison.Ordinal) || path.Contains("cancel", StringComparison.Ordinal))
                    continue;
                // The first shot of an operation is its plausible request with one path parameter mutated, so build it directly.
                var operation = operationNode!.AsObject();
                var pathParams = operation["parameters"]?.AsArray().Where(p => (string?)p!["in"] == "path").Select(p => (string)p!["name"]!) ?? [];
                var url = pathParams.Aggregate(path, (u, name) => u.Replace("{" + name + "}", PlausibleSegment(name), StringComparison.Ordinal));
                var query = string.Join("&", operation["parameters"]?.AsArray().Where(p => (string?)p!["in"] == "query")
                    .Select(p => $"{(string)p!["name"]!}={Uri.EscapeDataString(PlausibleScalar((string)p["name"]!, p["schema"]))}") ?? []);
                var schema = operation["requestBody"]?["content"]?["application/json"]?["schema"];
                yield return new HttpShot(verb.ToUpperInvariant(), query.Length == 0 ? url : url + "?" + query,
                    schema is null ? null : Encoding.UTF8.GetBytes(BaseBody(schema)?.ToJsonString() ?? "{}"), schema is null ? null : "application/json");
            }
        }
    }

    public IEnumerable<HttpShot> Shots()
    {
        foreach (var (path, item) in openApi["paths"]!.AsObject())
        {
            foreach (var (verb, operationNode) in item!.AsObject())
            {
                // A fixed budget per operation, drawn from all its mutations by the seeded generator.
                var shots = OperationShots(path, verb.ToUpperInvariant(), operationNode!.AsObject()).ToList();
                hostile.Random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(shots));
                foreach (var shot in shots.Take(PerOperation))
                    yield return shot;
            }
        }
        foreach (var url in SeedUrls(seedTexts))
        {
            foreach (var method in new[] { "GET", "POST" })
            {
                yield return new HttpShot(method, url, method == "POST" ? "{}"u8.ToArray() : null, method == "POST" ? "application/json" : null);
                yield return new HttpShot(method, WithHostileQuery(url), method == "POST" ? "{}"u8.ToArray() : null, method == "POST" ? "application/json" : null);
            }
        }
    }

    IEnumerable<HttpShot> OperationShots(string template, string method, JsonObject operation)
    {
        var parameters = operation["parameters"]?.AsArray().Select(p => p!.AsObject()).ToList() ?? [];
        var pathParams = parameters.Where(p => (string?)p["in"] == "path").Select(p => (string)p["name"]!).ToList();
        var queryParams = parameters.Where(p => (string?)p["in"] == "query").ToList();
        var bodySchema = operation["requestBody"]?["content"]?["application/json"]?["schema"];
        var hasBody = bodySchema is not null;

        string PathWith(string? hostileParam, string? hostileValue)
        {
            var path = template;
            foreach (var name in pathParams)
                path = path.Replace("{" + name + "}", name == hostileParam ? hostileValue! : PlausibleSegment(name), StringComparison.Ordinal);
            return path;
        }
        string Query(string? hostileParam, string? hostileValue) => string.Join("&", queryParams.Select(p =>
        {
            var name = (string)p["name"]!;
            return name == hostileParam ? $"{name}={hostileValue}" : $"{name}={Uri.EscapeDataString(PlausibleScalar(name, p["schema"]))}";
        }));
        string Url(string path, string query) => query.Length == 0 ? path : path + "?" + query;

        var basePath = PathWith(null, null);
        var baseQuery = Query(null, null);
        var baseBody = hasBody ? BaseBody(bodySchema!) : null;
        byte[] Json(JsonNode? node) => Encoding.UTF8.GetBytes(node?.ToJsonString() ?? "null");
        HttpShot Shot(string url, byte[]? body = null, string? type = "application/json", string? overrideMethod = null,
            IReadOnlyList<KeyValuePair<string, string>>? headers = null) =>
            new(overrideMethod ?? method, url, hasBody || body is not null ? body ?? Json(baseBody) : null, hasBody || body is not null ? type : null, headers);

        // Path parameters.
        foreach (var name in pathParams)
        {
            for (var i = 0; i < 4; i++)
                yield return Shot(Url(PathWith(name, hostile.PathSegment()), baseQuery));
        }
        // Query values, one at a time; an unknown and a repeated parameter.
        foreach (var parameter in queryParams)
        {
            var name = (string)parameter["name"]!;
            yield return Shot(Url(basePath, Query(name, hostile.QueryValue())));
            yield return Shot(Url(basePath, Query(name, hostile.QueryValue())));
        }
        yield return Shot(Url(basePath, Query(null, null) + (baseQuery.Length > 0 ? "&" : "") + "unknown%00=%27%20OR%201%3D1&page=-1&page=x"));
        if (hasBody && baseBody is JsonObject bodyObject)
        {
            // One field at a time: a wrong type, a hostile or huge string, a nested bomb.
            foreach (var key in bodyObject.Select(p => p.Key).ToList())
            {
                yield return Shot(Url(basePath, baseQuery), Json(Replace(bodyObject, key, WrongType(bodyObject[key]))));
                yield return Shot(Url(basePath, baseQuery), Json(Replace(bodyObject, key, JsonValue.Create(hostile.String()))));
            }
            yield return Shot(Url(basePath, baseQuery), Json(new JsonObject()));
            var extra = (JsonObject)bodyObject.DeepClone();
            extra["__proto__"] = new JsonObject { ["admin"] = true };
            extra["unknown_field' OR 1=1 --"] = HostileValues.Huge('x');
            yield return Shot(Url(basePath, baseQuery), Json(extra));
        }
        // Broken bodies (also on routes that take none).
        var valid = Json(baseBody ?? new JsonObject());
        yield return Shot(Url(basePath, baseQuery), valid[..(valid.Length / 2)]);
        yield return Shot(Url(basePath, baseQuery), Encoding.UTF8.GetBytes(HostileValues.DeepJson(10_000, objects: false)));
        yield return Shot(Url(basePath, baseQuery), Encoding.UTF8.GetBytes(HostileValues.DeepJson(5_000, objects: true)));
        yield return Shot(Url(basePath, baseQuery), [.. "{\"name\":\""u8, .. hostile.Pick(HostileValues.InvalidUtf8), .. "\"}"u8]);
        yield return Shot(Url(basePath, baseQuery), [.. hostile.Pick(HostileValues.InvalidUtf8), .. valid]);
        yield return Shot(Url(basePath, baseQuery), Encoding.UTF8.GetBytes("\"" + HostileValues.Huge() + "\""));
        yield return Shot(Url(basePath, baseQuery), "[1,2,3]"u8.ToArray());
        yield return Shot(Url(basePath, baseQuery), "\0\0\0\0"u8.ToArray());
        yield return Shot(Url(basePath, baseQuery), []);
        yield return Shot(Url(basePath, baseQuery), valid, "text/plain");
        yield return Shot(Url(basePath, baseQuery), valid, "application/xml");
        yield return Shot(Url(basePath, baseQuery), valid, "multipart/form-data");
        yield return Shot(Url(basePath, baseQuery), valid, "application/json; charset=utf-16");
        yield return Shot(Url(basePath, baseQuery), "a=%ff&b=%00&c"u8.ToArray(), "application/x-www-form-urlencoded");
        yield return Shot(Url(basePath, baseQuery), valid, "application/json;;;=;charset=\"");
        // Wrong methods.
        foreach (var other in new[] { "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE" }.Where(m => m != method))
            yield return Shot(Url(basePath, baseQuery), overrideMethod: other);
        // Headers: injection-shaped values where the client lets them through (it refuses CR/LF; RawHttpSurface sends those).
        yield return Shot(Url(basePath, baseQuery), headers:
        [
            new("x-buildgrid-user", "admin' OR 1=1 --"),
            new("x-request-id", HostileValues.Huge('r')[..8000]),
            new("traceparent", "00-zz-../../-01"),
            new("Authorization", "Bearer ' OR 1=1 --"),
        ]);
        yield return Shot(Url(basePath, baseQuery), headers: [new("Authorization", "Basic %%%"), new("Accept", "application/xml;q=2")]);
        yield return Shot(Url(basePath, baseQuery), headers: [new("x-buildgrid-identity", "forged.token.value")]);
    }

    JsonNode? BaseBody(JsonNode schema)
    {
        var built = Build(schema, 0);
        if (built is not JsonObject own)
            return built;
        // The seed example that names the most of this schema's fields, over the schema's own plausible values.
        var keys = own.Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
        var seed = seedBodies.Select(s => (Body: s, Overlap: s.Count(p => keys.Contains(p.Key)))).Where(s => s.Overlap > 0)
            .OrderByDescending(s => s.Overlap).Select(s => s.Body).FirstOrDefault();
        if (seed is null)
            return own;
        var merged = (JsonObject)own.DeepClone();
        foreach (var (key, value) in seed)
            merged[key] = value?.DeepClone();
        return merged;
    }

    JsonNode? Build(JsonNode? schema, int depth)
    {
        if (schema is null)
            return null;
        if ((string?)schema["$ref"] is { } reference)
        {
            if (depth > 3)
                return new JsonObject();
            return Build(schemas[reference["#/components/schemas/".Length..]], depth + 1);
        }
        switch ((string?)schema["type"])
        {
            case "object":
                var result = new JsonObject();
                foreach (var (name, property) in schema["properties"]?.AsObject() ?? [])
                    result[name] = (string?)property?["type"] == "string" && property["enum"] is null && property["format"] is null
                        ? PlausibleScalar(name, property)
                        : Build(property, depth + 1);
                return result;
            case "array":
                return depth > 3 ? new JsonArray() : new JsonArray(Build(schema["items"], depth + 1));
            case "integer": return 1;
            case "number": return 1.5;
            case "boolean": return true;
            case "string":
                if (schema["enum"] is JsonArray values && values.Count > 0)
                    return values[^1]!.DeepClone();
                return (string?)schema["format"] == "date-time" ? "2026-01-01T00:00:00Z" : $"hostile{Interlocked.Increment(ref counter)}";
            default: return null;
        }
    }

    JsonNode? WrongType(JsonNode? value) => value?.GetValueKind() switch
    {
        JsonValueKind.String => hostile.Pick<JsonNode?>([12345, true, new JsonArray("a"), new JsonObject { ["a"] = 1 }, null]),
        JsonValueKind.Number => hostile.Pick<JsonNode?>(["1; DROP TABLE projects", JsonValue.Create(1.5), JsonNode.Parse("1e400"), JsonNode.Parse("-9223372036854775809"), new JsonArray()]),
        JsonValueKind.True or JsonValueKind.False => hostile.Pick<JsonNode?>(["yes", 2, null]),
        JsonValueKind.Array => hostile.Pick<JsonNode?>(["a", new JsonObject(), new JsonArray([.. Enumerable.Range(0, 5000).Select(i => (JsonNode)i)])]),
        JsonValueKind.Object => hostile.Pick<JsonNode?>(["a", 1, new JsonArray(), JsonNode.Parse(HostileValues.DeepJson(60, objects: true))]),
        _ => hostile.Pick<JsonNode?>([new JsonObject(), "x", 0]),
    };

    static JsonObject Replace(JsonObject body, string key, JsonNode? value)
    {
        var copy = (JsonObject)body.DeepClone();
        copy[key] = value;
        return copy;
    }

    string PlausibleSegment(string name) => name switch
    {
        "repository" => "hostile/repo",
        "uuid" or "id" or "snapshot_id" => $"00000000-0000-4000-8000-{Interlocked.Increment(ref counter):D12}",
        _ => "hostile-" + name,
    };

    static string PlausibleScalar(string name, JsonNode? schema) => (string?)schema?["type"] switch
    {
        "integer" or "number" => "1",
        "boolean" => "true",
        _ => name switch { "Cluster" => "default_cluster", "action" => "list", _ => "hostile-" + name },
    };

    string WithHostileQuery(string url)
    {
        var question = url.IndexOf('?', StringComparison.Ordinal);
        if (question < 0)
            return url + "?projectName=" + hostile.QueryValue();
        var pairs = url[(question + 1)..].Split('&').Select(p => p.Split('=', 2)[0] + "=" + hostile.QueryValue());
        return url[..question] + "?" + string.Join("&", pairs);
    }

    [GeneratedRegex(@"https?://[^/\s'""]+(?<path>/[^\s'""\\]*)")]
    private static partial Regex SeedUrl();

    /// <summary>Path and query of every URL in the seeds' curl examples (the host part replaced by ours).</summary>
    static IEnumerable<string> SeedUrls(IReadOnlyList<string> texts) =>
        texts.SelectMany(t => SeedUrl().Matches(t)).Select(m => m.Groups["path"].Value.Trim())
            .Where(p => p.Length > 1).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);

    /// <summary>Every JSON object in the seed documents (their request and response examples).</summary>
    static List<JsonObject> SeedJson(IReadOnlyList<string> texts)
    {
        var found = new List<JsonObject>();
        var options = new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip };
        foreach (var text in texts)
        {
            for (var start = text.IndexOf('{', StringComparison.Ordinal); start >= 0; start = text.IndexOf('{', start + 1))
            {
                var depth = 0;
                for (var end = start; end < text.Length && end - start < 20_000; end++)
                {
                    depth += text[end] == '{' ? 1 : text[end] == '}' ? -1 : 0;
                    if (depth != 0)
                        continue;
                    try
                    {
                        if (JsonNode.Parse(text[start..(end + 1)], documentOptions: options) is JsonObject obj && obj.Count > 0)
                            found.Add(obj);
                    }
                    catch (JsonException) { }
                    break;
                }
            }
        }
        return found;
    }
}
