using System.Text.Json.Nodes;

namespace BuildGrid.Gateway.OpenApi;

/// <summary>
/// The OCI distribution API (<c>/v2/</c>) in /openapi.json: its routes are not transcoded, so they are listed here by
/// hand, with the statuses and headers the distribution spec gives and BuildGrid answers (tag <c>Registry</c>). A
/// repository name is written <c>{namespace}/{name}</c>, as BuildGrid's names are; the route itself takes deeper
/// names. Registry clients (podman, skopeo, docker) speak this API; a generated client seldom should.
/// </summary>
internal static class Distribution
{
    const string Repo = "/v2/{namespace}/{name}";

    public static void Describe(JsonObject paths, IDictionary<string, JsonNode> schemas)
    {
        schemas["DistributionErrors"] = new JsonObject
        {
            ["type"] = "object",
            ["properties"] = new JsonObject
            {
                ["errors"] = new JsonObject
                {
                    ["type"] = "array",
                    ["items"] = new JsonObject
                    {
                        ["type"] = "object",
                        ["properties"] = new JsonObject { ["code"] = Str(), ["message"] = Str(), ["detail"] = new JsonObject() },
                    },
                },
            },
        };
        Add(paths, "/v2/", "get", "Check the API version and the credentials", [],
            ("200", "The API is served; the caller may proceed", []),
            ("401", "Credentials needed: WWW-Authenticate names the token realm", ["WWW-Authenticate"]));
        Add(paths, "/v2/_catalog", "get", "List repositories", [Query("n", "integer"), Query("last", "string")],
            ("200", "{\"repositories\": [...]}; Link rel=\"next\" while more follow", ["Link"]));
        Add(paths, Repo + "/tags/list", "get", "List a repository's tags", [.. RepoPath, Query("n", "integer"), Query("last", "string")],
            ("200", "{\"name\", \"tags\": [...]}; Link rel=\"next\" while more follow", ["Link"]), ("404", "No such repository", []));
        foreach (var verb in new[] { "get", "head" })
            Add(paths, Repo + "/manifests/{reference}", verb, verb == "get" ? "Pull a manifest by tag or digest" : "Check a manifest",
                [.. RepoPath, Path("reference")],
                ("200", "The manifest (its media type as Content-Type)", ["Docker-Content-Digest", "Content-Type", "ETag"]),
                ("404", "No such manifest", []));
        Add(paths, Repo + "/manifests/{reference}", "put", "Push a manifest", [.. RepoPath, Path("reference")],
            ("201", "Stored", ["Location", "Docker-Content-Digest"]), ("400", "Invalid manifest or a blob it names is missing", []));
        Add(paths, Repo + "/manifests/{reference}", "delete", "Delete a manifest by digest", [.. RepoPath, Path("reference")],
            ("202", "Deleted", []), ("404", "No such manifest", []));
        foreach (var verb in new[] { "get", "head" })
            Add(paths, Repo + "/blobs/{digest}", verb, verb == "get" ? "Pull a blob" : "Check a blob", [.. RepoPath, Path("digest")],
                ("200", "The blob's bytes (Range requests answer 206)", ["Docker-Content-Digest", "Content-Length", "Accept-Ranges"]),
                ("404", "No such blob in the repository", []));
        Add(paths, Repo + "/blobs/{digest}", "delete", "Delete a blob from the repository", [.. RepoPath, Path("digest")],
            ("202", "Deleted", []), ("404", "No such blob", []));
        Add(paths, Repo + "/blobs/uploads/", "post", "Start an upload, push a blob whole (?digest=) or mount one (?mount=&from=)",
            [.. RepoPath, Query("digest", "string"), Query("mount", "string"), Query("from", "string")],
            ("201", "Stored or mounted", ["Location", "Docker-Content-Digest"]),
            ("202", "Upload started: send chunks to Location", ["Location", "Docker-Upload-UUID", "Range"]));
        Add(paths, Repo + "/blobs/uploads/{uuid}", "patch", "Send a chunk", [.. RepoPath, Path("uuid")],
            ("202", "Accepted", ["Location", "Range", "Docker-Upload-UUID"]), ("416", "Chunk out of order", []));
        Add(paths, Repo + "/blobs/uploads/{uuid}", "put", "Finish an upload", [.. RepoPath, Path("uuid"), Query("digest", "string", required: true)],
            ("201", "Stored", ["Location", "Docker-Content-Digest"]), ("400", "The digest does not match", []));
        Add(paths, Repo + "/blobs/uploads/{uuid}", "get", "An upload's progress", [.. RepoPath, Path("uuid")],
            ("204", "In progress", ["Range", "Docker-Upload-UUID"]));
        Add(paths, Repo + "/blobs/uploads/{uuid}", "delete", "Cancel an upload", [.. RepoPath, Path("uuid")], ("204", "Cancelled", []));
    }

    static JsonNode[] RepoPath => [Path("namespace"), Path("name")];

    static JsonObject Str() => new() { ["type"] = "string" };

    static JsonObject Path(string name) =>
        new JsonObject { ["name"] = name, ["in"] = "path", ["required"] = true, ["schema"] = Str() };

    static JsonObject Query(string name, string type, bool required = false) =>
        new JsonObject { ["name"] = name, ["in"] = "query", ["required"] = required, ["schema"] = new JsonObject { ["type"] = type } };

    static void Add(JsonObject paths, string path, string verb, string summary, JsonNode[] parameters,
        params (string Status, string Description, string[] Headers)[] responses)
    {
        var item = paths[path] as JsonObject ?? new JsonObject();
        paths[path] = item;
        var answers = new JsonObject();
        foreach (var (status, description, headers) in responses)
        {
            var response = new JsonObject { ["description"] = description };
            if (headers.Length > 0)
                response["headers"] = new JsonObject(headers.Select(h => KeyValuePair.Create(h, (JsonNode?)new JsonObject { ["schema"] = Str() })));
            answers[status] = response;
        }
        answers["default"] = new JsonObject
        {
            ["description"] = "Other errors (401 with WWW-Authenticate, 403, 404, 429 ...)",
            ["content"] = new JsonObject { ["application/json"] = new JsonObject { ["schema"] = new JsonObject { ["$ref"] = "#/components/schemas/DistributionErrors" } } },
        };
        var segments = path.Replace("/", ".", StringComparison.Ordinal).Replace("{", "", StringComparison.Ordinal).Replace("}", "", StringComparison.Ordinal).Trim('.');
        item[verb] = new JsonObject
        {
            ["operationId"] = $"distribution.{segments}.{verb}",
            ["tags"] = new JsonArray("Registry"),
            ["summary"] = summary,
            ["parameters"] = new JsonArray(parameters),
            ["responses"] = answers,
        };
    }
}
