using System.Net;
using System.Text.Json;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Quay;

/// <summary>
/// /openapi.json as a client generator reads it: a repository path is two parameters ({namespace}/{name}), so that a
/// generated client fills the template segment by segment and reaches the route (one parameter holding "a/b" is sent as
/// a%2Fb, which answers 404); security schemes, servers, a tag per dialect and the health probes are described.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class QuayOpenApiTests(StandaloneFixture fixture) : IDisposable
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    public void Dispose() => fixture.AssertNoErrorsLogged();

    [Fact]
    public async Task A_path_template_filled_as_a_generated_client_fills_it_reaches_the_repository()
    {
        var document = JsonDocument.Parse(await fixture.Rest.GetStringAsync("/openapi.json", Ct)).RootElement;
        var paths = document.GetProperty("paths");
        Assert.False(paths.TryGetProperty("/api/v1/repository/{repository}", out _));
        var get = paths.GetProperty("/api/v1/repository/{namespace}/{name}").GetProperty("get");
        var pathParameters = get.GetProperty("parameters").EnumerateArray().Where(p => p.GetProperty("in").GetString() == "path")
            .Select(p => p.GetProperty("name").GetString()!).ToArray();
        Assert.Equal(["namespace", "name"], pathParameters);
        Assert.DoesNotContain(get.GetProperty("parameters").EnumerateArray(), p => p.GetProperty("name").GetString() == "repository");
        Assert.Equal("Quay", get.GetProperty("tags")[0].GetString());
        Assert.True(paths.TryGetProperty("/api/v1/repository/{namespace}/{name}/notification/{uuid}", out _));
        // Real statuses: 201 on create, 204 on delete, the error object on 4xx.
        Assert.True(paths.GetProperty("/api/v1/repository").GetProperty("post").GetProperty("responses").TryGetProperty("201", out _));
        var delete = paths.GetProperty("/api/v1/repository/{namespace}/{name}").GetProperty("delete").GetProperty("responses");
        Assert.True(delete.TryGetProperty("204", out _));
        Assert.False(delete.TryGetProperty("200", out _));
        Assert.Equal("#/components/schemas/QuayError",
            get.GetProperty("responses").GetProperty("404").GetProperty("content").GetProperty("application/json").GetProperty("schema").GetProperty("$ref").GetString());
        Assert.True(document.GetProperty("components").GetProperty("schemas").GetProperty("QuayError").GetProperty("properties").TryGetProperty("error_type", out _));

        var schemes = document.GetProperty("components").GetProperty("securitySchemes");
        Assert.Equal("basic", schemes.GetProperty("basic").GetProperty("scheme").GetString());
        Assert.Equal("bearer", schemes.GetProperty("bearer").GetProperty("scheme").GetString());
        Assert.Equal("/", document.GetProperty("servers")[0].GetProperty("url").GetString());
        var tags = document.GetProperty("tags").EnumerateArray().Select(t => t.GetProperty("name").GetString()).ToHashSet();
        Assert.Superset(new HashSet<string?> { "Harbor", "Quay", "Zadig", "ImageMarket", "Svacer", "BuildGrid", "Health" }, tags);
        Assert.True(paths.GetProperty("/healthz").TryGetProperty("get", out _));
        Assert.True(paths.GetProperty("/readyz").TryGetProperty("get", out _));

        // Fill the template as a generator does (each parameter escaped on its own) and call it.
        var ns = "qo" + Guid.NewGuid().ToString("N")[..8];
        await new QuayApi(fixture.Rest).CreateRepositoryAsync(ns, "app");
        var url = "/api/v1/repository/{namespace}/{name}".Replace("{namespace}", Uri.EscapeDataString(ns)).Replace("{name}", Uri.EscapeDataString("app"));
        using var response = await fixture.Rest.GetAsync(url, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // The single-parameter form a generator would make of {repository}: the slash escaped, no route.
        using var escaped = await fixture.Rest.GetAsync("/api/v1/repository/" + Uri.EscapeDataString($"{ns}/app"), Ct);
        Assert.NotEqual(HttpStatusCode.OK, escaped.StatusCode);
    }

    /// <summary>
    /// Schema properties (and query parameters) carry their proto field's comment as description: the lines above it,
    /// joined, or the comment after it on its line; a property that is a reference carries it in a one-item allOf.
    /// </summary>
    [Fact]
    public async Task Schema_properties_carry_the_comments_of_their_proto_fields()
    {
        var document = JsonDocument.Parse(await fixture.Rest.GetStringAsync("/openapi.json", Ct)).RootElement;
        var schemas = document.GetProperty("components").GetProperty("schemas");
        JsonElement Property(string message, string property) => schemas.GetProperty(message).GetProperty("properties").GetProperty(property);
        static string? Description(JsonElement schema) => schema.TryGetProperty("description", out var d) ? d.GetString() : null;

        Assert.Equal("public or private.", Description(Property("buildgrid.gateway.quay.v1.CreateRepositoryRequest", "visibility")));
        Assert.Equal("Required, as Quay's RepoCreate schema says (\"\" is a description).",
            Description(Property("buildgrid.gateway.quay.v1.CreateRepositoryRequest", "description")));
        Assert.Null(Description(Property("buildgrid.gateway.quay.v1.CreateRepositoryRequest", "repository")));
        Assert.Equal("Present only when more repositories follow: pass it back as ?next_page=.",
            Description(Property("buildgrid.gateway.quay.v1.ListRepositoriesResponse", "next_page")));
        // Three comment lines, one description.
        Assert.Equal("Tag name to {\"name\", \"size\", \"last_modified\", \"manifest_digest\"}; absent with includeTags=false. size is the total "
            + "of the manifest's layers (Quay's manifest_layers_size), null for an index; last_modified is RFC 2822, as Quay writes it.",
            Description(Property("buildgrid.gateway.quay.v1.RepositoryDetails", "tags")));
        Assert.Equal("null when no quota is configured.", Description(Property("buildgrid.gateway.quay.v1.QuotaReport", "configured_quota")));
        // No comment: the plain reference.
        var quota = Property("buildgrid.gateway.quay.v1.RepositoryDetails", "quota_report");
        Assert.Equal("#/components/schemas/buildgrid.gateway.quay.v1.QuotaReport", quota.GetProperty("$ref").GetString());
        Assert.Null(Description(quota));

        // A commented reference: allOf with the one $ref, and the description beside it.
        var context = Property("buildgrid.gateway.imagemarket.v1.SaveProjectRequest", "buildContext");
        Assert.False(context.TryGetProperty("$ref", out _));
        Assert.Equal("#/components/schemas/buildgrid.gateway.imagemarket.v1.SaveBuildContext", Assert.Single(context.GetProperty("allOf").EnumerateArray()).GetProperty("$ref").GetString());
        Assert.StartsWith("Extension: where copy-file steps copy from, {\"gitUrl\": \"https://...\", \"gitRef\": \"main\"}; {} removes it; absent keeps it. An archive",
            Description(context));
        Assert.Equal("Increases with every change; pass it back as expected_version for an optimistic update.",
            Description(Property("buildgrid.projects.v1.Project", "version")));

        // A query parameter from a field with a comment after it on its line.
        var pageSize = document.GetProperty("paths").GetProperty("/buildgrid/v1/users").GetProperty("get").GetProperty("parameters").EnumerateArray()
            .Single(p => p.GetProperty("name").GetString() == "pageSize");
        Assert.Equal("default 50, at most 100", Description(pageSize));
    }
}
