using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Google.Api;
using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Grpc.JsonTranscoding;

namespace BuildGrid.Gateway.OpenApi;

/// <summary>
/// The OpenAPI 3 document of every transcoded REST route, built from each endpoint's <see cref="GrpcJsonTranscodingMetadata"/>
/// (the HttpRule and the method's descriptors), because Microsoft.AspNetCore.OpenApi does not see transcoded endpoints.
/// Routes whose body is a google.api.HttpBody are read leniently: their body schema is the request message itself.
/// </summary>
internal static partial class OpenApiDocument
{
    public static IEndpointConventionBuilder MapOpenApiDocument(this WebApplication app, string path) =>
        app.MapGet(path, (EndpointDataSource endpoints) => Results.Text(Build(endpoints.Endpoints).ToJsonString(), "application/json"));

    [GeneratedRegex(@"\{([^}=]+)(=[^}]*)?\}")]
    private static partial Regex PathVariable();

    public static JsonObject Build(IEnumerable<Microsoft.AspNetCore.Http.Endpoint> endpoints)
    {
        var paths = new JsonObject();
        var schemas = new SortedDictionary<string, JsonNode>(StringComparer.Ordinal);
        foreach (var endpoint in endpoints)
        {
            if (endpoint.Metadata.GetMetadata<GrpcJsonTranscodingMetadata>() is not { } metadata)
                continue;
            var rule = metadata.HttpRule;
            var (verb, template) = rule.PatternCase switch
            {
                HttpRule.PatternOneofCase.Get => ("get", rule.Get),
                HttpRule.PatternOneofCase.Post => ("post", rule.Post),
                HttpRule.PatternOneofCase.Put => ("put", rule.Put),
                HttpRule.PatternOneofCase.Delete => ("delete", rule.Delete),
                HttpRule.PatternOneofCase.Patch => ("patch", rule.Patch),
                HttpRule.PatternOneofCase.Custom => (rule.Custom.Kind.ToLowerInvariant(), rule.Custom.Path),
                _ => ("", ""),
            };
            if (verb.Length == 0)
                continue;
            var method = metadata.MethodDescriptor;
            var pathVariables = PathVariable().Matches(template).Select(m => m.Groups[1].Value).ToHashSet();
            // A variable that spans segments ({repository=*/*}) becomes one parameter per segment ({namespace}/{name}):
            // a generated client would escape a "/" inside one parameter to %2F, which no route matches.
            var pathParameters = new List<string>();
            var openApiPath = PathVariable().Replace(template, m =>
            {
                var segments = m.Groups[2].Success ? m.Groups[2].Value[1..].Split('/').Length : 1;
                var names = segments == 1 ? [m.Groups[1].Value]
                    : segments == 2 ? ["namespace", "name"]
                    : Enumerable.Range(1, segments).Select(i => $"{m.Groups[1].Value}{i}").ToArray();
                pathParameters.AddRange(names);
                return string.Join("/", names.Select(n => "{" + n + "}"));
            });
            var item = paths[openApiPath] as JsonObject ?? new JsonObject();
            paths[openApiPath] = item;
            if (item.ContainsKey(verb))
                continue;

            var parameters = new JsonArray();
            foreach (var variable in pathParameters)
                parameters.Add(new JsonObject { ["name"] = variable, ["in"] = "path", ["required"] = true, ["schema"] = new JsonObject { ["type"] = "string" } });
            var bodyField = rule.Body is "" or "*" ? null : method.InputType.FindFieldByName(rule.Body);
            var lenient = bodyField?.FieldType == FieldType.Message && bodyField.MessageType.FullName == HttpBody.Descriptor.FullName;
            if (rule.Body != "*")
            {
                foreach (var field in method.InputType.Fields.InDeclarationOrder())
                {
                    if (pathVariables.Contains(field.Name) || field == bodyField || field.FieldType == FieldType.Message && !IsScalarLike(field.MessageType))
                        continue;
                    // The dialects read their paging numbers as strings (so that a bad value gets the dialect's own
                    // error); what a caller sends is an integer.
                    var schema = field.FieldType == FieldType.String && IntegerQueryFields.Contains(field.Name) ? Int : Schema(field, schemas);
                    var parameter = new JsonObject { ["name"] = field.JsonName, ["in"] = "query", ["schema"] = schema };
                    if (ProtoComments.ForField(field.FullName) is { } description)
                        parameter["description"] = description;
                    parameters.Add(parameter);
                }
            }

            var operation = new JsonObject
            {
                ["operationId"] = $"{method.Service.FullName}.{method.Name}.{verb}",
                ["tags"] = new JsonArray(Tag(method.Service)),
                ["parameters"] = parameters,
            };
            // Summary and description from the comment above the rpc in its .proto file; the method's name otherwise.
            var comment = ProtoComments.For(method.FullName);
            operation["summary"] = comment is null ? ProtoComments.Words(method.Name) : ProtoComments.FirstSentence(comment);
            if (comment is not null && comment != ProtoComments.FirstSentence(comment))
                operation["description"] = comment;
            if (rule.Body.Length > 0)
            {
                var schema = rule.Body == "*" ? Ref(method.InputType, schemas)
                    : lenient ? Ref(method.InputType, schemas)
                    : Schema(bodyField!, schemas);
                var content = new JsonObject { ["application/json"] = new JsonObject { ["schema"] = schema } };
                if (lenient)
                    content["application/x-www-form-urlencoded"] = new JsonObject { ["schema"] = schema.DeepClone() };
                operation["requestBody"] = new JsonObject { ["required"] = !lenient, ["content"] = content };
            }
            var responseType = method.OutputType;
            JsonNode responseSchema = rule.ResponseBody.Length > 0 && responseType.FindFieldByName(rule.ResponseBody) is { } responseField
                ? Schema(responseField, schemas)
                : responseType.FullName == HttpBody.Descriptor.FullName ? new JsonObject() : Ref(responseType, schemas);
            var responses = new JsonObject();
            var success = SuccessStatus(method);
            responses[success.ToString(System.Globalization.CultureInfo.InvariantCulture)] = success == 204
                ? new JsonObject { ["description"] = "No Content" }
                : new JsonObject
                {
                    ["description"] = success == 201 ? "Created" : "OK",
                    ["content"] = new JsonObject { ["application/json"] = new JsonObject { ["schema"] = responseSchema } },
                };
            if (ErrorSchema(method.Service, template) is { } error)
            {
                foreach (var (status, text) in new[] { ("400", "Bad input"), ("401", "No or wrong credentials"), ("403", "Not allowed"), ("404", "Not found"), ("default", "Other errors") })
                    responses[status] = new JsonObject
                    {
                        ["description"] = text,
                        ["content"] = new JsonObject { ["application/json"] = new JsonObject { ["schema"] = new JsonObject { ["$ref"] = $"#/components/schemas/{error}" } } },
                    };
                schemas[error] = ErrorSchemas[error].DeepClone();
            }
            else if (method.Service.Name == "ImageMarket")
            {
                // Domain failures answer 200 with the envelope's code (10003, 10006 ...); the caller's own faults
                // (credentials, size, rate) answer their HTTP status with the same envelope.
                var envelope = Ref(ImageMarket.V1.Envelope.Descriptor, schemas);
                foreach (var (status, text) in new[] { ("401", "No or wrong credentials (code 10401)"), ("403", "Not allowed (code 10403)"), ("default", "Other errors, in the envelope") })
                    responses[status] = new JsonObject
                    {
                        ["description"] = text,
                        ["content"] = new JsonObject { ["application/json"] = new JsonObject { ["schema"] = envelope.DeepClone() } },
                    };
            }
            operation["responses"] = responses;
            item[verb] = operation;
        }
        foreach (var probe in new[] { "/healthz", "/readyz" })
            paths[probe] = new JsonObject
            {
                ["get"] = new JsonObject
                {
                    ["operationId"] = probe[1..], ["tags"] = new JsonArray("Health"), ["security"] = new JsonArray(),
                    ["summary"] = probe == "/healthz" ? "Liveness: the process answers" : "Readiness: databases, Redis and disk are usable",
                    ["responses"] = new JsonObject
                    {
                        ["200"] = new JsonObject { ["description"] = "Healthy" },
                        ["503"] = new JsonObject { ["description"] = "Unhealthy" },
                    },
                },
            };
        Distribution.Describe(paths, schemas);
        var tags = paths.SelectMany(p => ((JsonObject)p.Value!).Select(o => o.Value?["tags"]?[0]?.GetValue<string>())).OfType<string>().Distinct().Order(StringComparer.Ordinal);
        return new JsonObject
        {
            ["openapi"] = "3.0.3",
            ["info"] = new JsonObject { ["title"] = "BuildGrid REST API", ["version"] = "v1" },
            // Relative: the document is served by the gateway it describes.
            ["servers"] = new JsonArray(new JsonObject { ["url"] = "/" }),
            ["tags"] = new JsonArray([.. tags.Select(t => (JsonNode)new JsonObject { ["name"] = t })]),
            // A user's password or robot token over Basic, or a bearer token; reads of public content need neither.
            ["security"] = new JsonArray(new JsonObject { ["basic"] = new JsonArray() }, new JsonObject { ["bearer"] = new JsonArray() }, new JsonObject()),
            ["paths"] = paths,
            ["components"] = new JsonObject
            {
                ["securitySchemes"] = new JsonObject
                {
                    ["basic"] = new JsonObject { ["type"] = "http", ["scheme"] = "basic" },
                    ["bearer"] = new JsonObject { ["type"] = "http", ["scheme"] = "bearer" },
                },
                ["schemas"] = new JsonObject(schemas.Select(s => KeyValuePair.Create(s.Key, (JsonNode?)s.Value))),
            },
        };
    }

    /// <summary>Quay answers creation with 201 and deletes and resets with 204 (QuayService sets them).</summary>
    static int SuccessStatus(MethodDescriptor method) => method.Service.Name != "Quay" ? 200 : method.Name switch
    {
        "CreateRepository" or "CreateStar" or "CreateNotification" => 201,
        "DeleteRepository" or "DeleteStar" or "DeleteNotification" or "ResetNotificationFailures" => 204,
        _ => 200,
    };

    /// <summary>The dialect's error body; null for the image market, whose errors answer in its success envelope.</summary>
    static string? ErrorSchema(Google.Protobuf.Reflection.ServiceDescriptor service, string template) => service.Name switch
    {
        "Harbor" => template.StartsWith("/api/v2.0/", StringComparison.Ordinal) ? "HarborV2Errors" : "HarborError",
        "Quay" or "QuayIdentity" => "QuayError",
        "Zadig" => "ZadigError",
        "Svacer" => "SvacerError",
        _ when Tag(service) == "BuildGrid" => "google.rpc.Status",
        _ => null,
    };

    /// <summary>String fields of the facades' requests that hold integers: Harbor's and the image market's page and page_size
    /// (and Harbor's pagesize), Zadig's pageNum and pageSize, Harbor 0.5's is_public filter ("1").</summary>
    static readonly HashSet<string> IntegerQueryFields = new(StringComparer.Ordinal) { "page", "page_size", "pagesize", "page_num", "is_public" };

    static JsonObject Object(params (string Name, JsonNode Schema)[] properties) =>
        new() { ["type"] = "object", ["properties"] = new JsonObject(properties.Select(p => KeyValuePair.Create(p.Name, (JsonNode?)p.Schema))) };

    static JsonObject Str => new() { ["type"] = "string" };
    static JsonObject Int => new() { ["type"] = "integer", ["format"] = "int32" };

    static readonly Dictionary<string, JsonObject> ErrorSchemas = new()
    {
        ["HarborError"] = Object(("code", Int), ("msg", Str)),
        ["HarborV2Errors"] = Object(("errors", new JsonObject { ["type"] = "array", ["items"] = Object(("code", Str), ("message", Str)) })),
        ["QuayError"] = Object(("detail", Str), ("error_message", Str), ("error_type", Str), ("title", Str), ("type", Str), ("status", Int)),
        // {"error": "<what is wrong>", "reason": "<REASON>"} (Dialects/Svacer/SvacerErrors.cs).
        ["SvacerError"] = Object(("error", Str), ("reason", Str)),
        // /buildgrid/v1 answers errors as the transcoder writes them: google.rpc.Status in JSON, details as Any with @type.
        ["google.rpc.Status"] = Object(("code", Int), ("message", Str),
            ("details", new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "object", ["properties"] = new JsonObject { ["@type"] = Str }, ["additionalProperties"] = true } })),
        ["ZadigError"] = Object(("type", Str), ("message", Str), ("code", Int), ("description", Str), ("extra", Object(("reason", Str), ("field", Str)))),
    };

    /// <summary>One tag per dialect (the facade service's name: Harbor, Quay, Zadig, ImageMarket, Svacer), BuildGrid for its own API.</summary>
    static string Tag(Google.Protobuf.Reflection.ServiceDescriptor service) =>
        service.File.Package.StartsWith("buildgrid.gateway.rest.", StringComparison.Ordinal) ? "BuildGrid" : service.Name;

    static bool IsScalarLike(MessageDescriptor message) => message.FullName.StartsWith("google.protobuf.", StringComparison.Ordinal)
        && message.FullName is "google.protobuf.Timestamp" or "google.protobuf.Duration" or "google.protobuf.StringValue"
            or "google.protobuf.Int32Value" or "google.protobuf.Int64Value" or "google.protobuf.BoolValue";

    static JsonObject Schema(FieldDescriptor field, IDictionary<string, JsonNode> schemas)
    {
        if (field.IsMap)
            return new JsonObject { ["type"] = "object", ["additionalProperties"] = Schema(field.MessageType.FindFieldByNumber(2), schemas) };
        var single = field.FieldType switch
        {
            FieldType.String => new JsonObject { ["type"] = "string" },
            FieldType.Bytes => new JsonObject { ["type"] = "string", ["format"] = "byte" },
            FieldType.Bool => new JsonObject { ["type"] = "boolean" },
            FieldType.Double or FieldType.Float => new JsonObject { ["type"] = "number" },
            FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64 or FieldType.UInt64 or FieldType.Fixed64 =>
                new JsonObject { ["type"] = "integer", ["format"] = "int64" },
            FieldType.Enum => new JsonObject { ["type"] = "string", ["enum"] = new JsonArray([.. field.EnumType.Values.Select(v => (JsonNode)v.Name)]) },
            FieldType.Message => Ref(field.MessageType, schemas),
            _ => new JsonObject { ["type"] = "integer", ["format"] = "int32" },
        };
        return field.IsRepeated ? new JsonObject { ["type"] = "array", ["items"] = single } : single;
    }

    /// <summary>
    /// A property's schema with its field's comment as <c>description</c>. OpenAPI 3.0 ignores the siblings of a
    /// <c>$ref</c>, so a reference is wrapped in a one-item <c>allOf</c> (as Swashbuckle's UseAllOfToExtendReferenceSchemas
    /// does) to carry it.
    /// </summary>
    static JsonObject Described(JsonObject schema, string? description)
    {
        if (description is null)
            return schema;
        if (schema.ContainsKey("$ref"))
            schema = new JsonObject { ["allOf"] = new JsonArray(schema) };
        schema["description"] = description;
        return schema;
    }

    static JsonObject Ref(MessageDescriptor message, IDictionary<string, JsonNode> schemas)
    {
        switch (message.FullName)
        {
            case "google.protobuf.Struct": return new JsonObject { ["type"] = "object" };
            case "google.protobuf.Value": return new JsonObject();
            case "google.protobuf.ListValue": return new JsonObject { ["type"] = "array", ["items"] = new JsonObject() };
            case "google.protobuf.Timestamp": return new JsonObject { ["type"] = "string", ["format"] = "date-time" };
            case "google.protobuf.Duration": return new JsonObject { ["type"] = "string" };
            case "google.protobuf.Empty": return new JsonObject { ["type"] = "object" };
        }
        if (!schemas.ContainsKey(message.FullName))
        {
            var properties = new JsonObject();
            schemas[message.FullName] = new JsonObject { ["type"] = "object", ["properties"] = properties };
            foreach (var field in message.Fields.InDeclarationOrder())
            {
                if (field.FieldType == FieldType.Message && field.MessageType.FullName == HttpBody.Descriptor.FullName)
                    continue;
                properties[field.JsonName] = Described(Schema(field, schemas), ProtoComments.ForField(field.FullName));
            }
        }
        return new JsonObject { ["$ref"] = $"#/components/schemas/{message.FullName}" };
    }
}
