using System.Reflection;
using System.Runtime.Loader;
using System.Text.Json;
using BuildGrid.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using NJsonSchema;
using NJsonSchema.CodeGeneration;
using NJsonSchema.CodeGeneration.CSharp;
using NSwag.CodeGeneration.CSharp;
using NSwag.CodeGeneration.OperationNameGenerators;

namespace BuildGrid.Tests.Clients;

/// <summary>
/// /openapi.json as client generators read it: OpenAPI.NET's reader and validator find no error in it, and a C# client
/// generated from it by NSwag (as an NSwag user would: NSwag.CodeGeneration.CSharp, System.Text.Json) compiles with
/// Roslyn and drives Quay's create, get and delete and the image market's new and info on the shared host.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class OpenApiClientTests(StandaloneFixture fixture) : IDisposable
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    public void Dispose() => fixture.AssertNoErrorsLogged();

    [Fact]
    public async Task OpenApi_NET_reads_and_validates_the_document_without_errors()
    {
        var json = await fixture.Rest.GetStringAsync("/openapi.json", Ct);
        var read = Microsoft.OpenApi.OpenApiDocument.Parse(json, "json");
        Assert.True(read.Diagnostic is null || read.Diagnostic.Errors.Count == 0,
            "reader errors:\n" + string.Join('\n', read.Diagnostic!.Errors.Select(e => $"{e.Pointer}: {e.Message}")));
        var errors = Microsoft.OpenApi.OpenApiElementExtensions.Validate(read.Document!, Microsoft.OpenApi.ValidationRuleSet.GetDefaultRuleSet())?.ToList() ?? [];
        Assert.True(errors.Count == 0, "validation errors:\n" + string.Join('\n', errors.Select(e => $"{e.Pointer}: {e.Message}")));

        var document = JsonDocument.Parse(json).RootElement;
        var paths = document.GetProperty("paths");
        var operations = paths.EnumerateObject().SelectMany(p => p.Value.EnumerateObject().Select(o => (Path: p.Name, Verb: o.Name, Operation: o.Value))).ToList();
        Assert.All(operations, o => Assert.False(string.IsNullOrWhiteSpace(o.Operation.GetProperty("summary").GetString()), $"{o.Verb} {o.Path} has no summary"));
        // From the comment above the rpc in quay.proto, and from the method's name where it has none.
        var star = paths.GetProperty("/api/v1/user/starred").GetProperty("post");
        Assert.StartsWith("Stars of the calling user (Quay's StarredRepositoryList)", star.GetProperty("summary").GetString());
        Assert.Contains("starring twice is one star", star.GetProperty("description").GetString());
        Assert.Equal("List repositories", paths.GetProperty("/api/v1/repository").GetProperty("get").GetProperty("summary").GetString());

        // Harbor reads page as a string, to answer a bad one in its own words; a caller sends an integer.
        var harborPage = paths.GetProperty("/api/projects").GetProperty("get").GetProperty("parameters").EnumerateArray()
            .Single(p => p.GetProperty("name").GetString() == "page");
        Assert.Equal("integer", harborPage.GetProperty("schema").GetProperty("type").GetString());

        // Every dialect's error body.
        string ErrorRef(string path, string verb) => paths.GetProperty(path).GetProperty(verb).GetProperty("responses").GetProperty("404")
            .GetProperty("content").GetProperty("application/json").GetProperty("schema").GetProperty("$ref").GetString()!;
        Assert.Equal("#/components/schemas/google.rpc.Status", ErrorRef("/buildgrid/v1/build-templates/{name}", "get"));
        Assert.Equal("#/components/schemas/SvacerError", ErrorRef("/api/public/admin/server/containers", "post"));
        Assert.Equal("#/components/schemas/HarborError", ErrorRef("/api/projects", "get"));
        Assert.Equal("#/components/schemas/ZadigError", ErrorRef("/openapi/build", "get"));
        // The image market answers its errors in its envelope (code other than 10000), as HTTP 401/403 where the caller is at fault.
        var info = paths.GetProperty("/api/project/info").GetProperty("get").GetProperty("responses");
        Assert.Equal("#/components/schemas/buildgrid.gateway.imagemarket.v1.Envelope",
            info.GetProperty("401").GetProperty("content").GetProperty("application/json").GetProperty("schema").GetProperty("$ref").GetString());

        // The distribution API, with its statuses and headers.
        var push = paths.GetProperty("/v2/{namespace}/{name}/manifests/{reference}").GetProperty("put").GetProperty("responses").GetProperty("201");
        Assert.True(push.GetProperty("headers").TryGetProperty("Docker-Content-Digest", out _));
        Assert.True(paths.GetProperty("/v2/").GetProperty("get").GetProperty("responses").GetProperty("401").GetProperty("headers").TryGetProperty("WWW-Authenticate", out _));
        Assert.True(paths.GetProperty("/v2/{namespace}/{name}/blobs/uploads/").GetProperty("post").GetProperty("responses").TryGetProperty("202", out _));
    }

    [Fact]
    public async Task A_client_generated_by_NSwag_drives_Quay_create_get_delete_and_image_market_new_info()
    {
        var json = await fixture.Rest.GetStringAsync("/openapi.json", Ct);
        var document = await NSwag.OpenApiDocument.FromJsonAsync(json, Ct);
        var settings = new CSharpClientGeneratorSettings
        {
            ClassName = "BuildGridApi",
            UseBaseUrl = false,
            GenerateOptionalParameters = true,
            OperationNameGenerator = new ServiceMethodNames(),
        };
        settings.CSharpGeneratorSettings.Namespace = "Generated";
        settings.CSharpGeneratorSettings.JsonLibrary = CSharpJsonLibrary.SystemTextJson;
        settings.CSharpGeneratorSettings.TypeNameGenerator = new PackageTypeNames();
        var code = new CSharpClientGenerator(document, settings).GenerateFile();

        var assembly = Compile(code, Driver);
        var go = assembly.GetType("Driver.Calls")!.GetMethod("RunAsync")!;
        using var http = new HttpClient { BaseAddress = fixture.RestUrl };
        var ns = "nswag" + Guid.NewGuid().ToString("N")[..8];
        var result = await (Task<string>)go.Invoke(null, [http, ns])!;
        Assert.Equal($"created {ns}/app; got {ns}/app private; deleted; then 404", result);

        // The image market's new and info (errors answer in the envelope with HTTP 200).
        var name = "nswag" + Guid.NewGuid().ToString("N")[..8];
        var market = await (Task<string>)assembly.GetType("Driver.Calls")!.GetMethod("ImageMarketAsync")!.Invoke(null, [http, name])!;
        Assert.StartsWith("new 10000; info 10000 ", market);
        Assert.Contains(name, market);
        Assert.EndsWith("; missing not found", market);
    }

    /// <summary>What a user writes against the generated client (names from <see cref="ServiceMethodNames"/> and <see cref="PackageTypeNames"/>).</summary>
    const string Driver = """
        namespace Driver;
        public static class Calls
        {
            public static async System.Threading.Tasks.Task<string> RunAsync(System.Net.Http.HttpClient http, string ns)
            {
                var api = new Generated.BuildGridApi(http);
                var created = await api.QuayCreateRepositoryPostAsync(new Generated.QuayCreateRepositoryRequest
                {
                    Namespace = ns, Repository = "app", Visibility = "private", Description = "made by an NSwag client",
                });
                var got = await api.QuayGetRepositoryGetAsync(ns, "app");
                await api.QuayDeleteRepositoryDeleteAsync(ns, "app");
                int status;
                try { await api.QuayGetRepositoryGetAsync(ns, "app"); status = 200; }
                catch (Generated.ApiException e) { status = e.StatusCode; }
                return $"created {created.Namespace}/{created.Name}; got {got.Namespace}/{got.Name} {(got.Is_public ? "public" : "private")}; deleted; then {status}";
            }

            public static async System.Threading.Tasks.Task<string> ImageMarketAsync(System.Net.Http.HttpClient http, string name)
            {
                var api = new Generated.BuildGridApi(http);
                var created = await api.ImageMarketNewProjectPostAsync(body: new Generated.ImagemarketNewProjectRequest { ProjectName = name, Operator = "nswag" });
                var info = await api.ImageMarketProjectInfoGetAsync(projectName: name);
                var missing = await api.ImageMarketProjectInfoGetAsync(projectName: name + "x");
                return $"new {created.Code}; info {info.Code} {info.Content}; missing {(missing.Code == 10000 ? "found" : "not found")}";
            }
        }
        """;

    static Assembly Compile(string generated, string driver)
    {
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Select(path => MetadataReference.CreateFromFile(path));
        var compilation = CSharpCompilation.Create("NSwagClient" + Guid.NewGuid().ToString("N"),
            [CSharpSyntaxTree.ParseText(generated, cancellationToken: Ct), CSharpSyntaxTree.ParseText(driver, cancellationToken: Ct)], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Disable));
        using var image = new MemoryStream();
        var emitted = compilation.Emit(image, cancellationToken: Ct);
        if (!emitted.Success)
        {
            var saved = Path.Combine(Path.GetTempPath(), "buildgrid-nswag-client.cs");
            File.WriteAllText(saved, generated);
            Assert.Fail($"the generated client (saved to {saved}) does not compile:\n" +
                string.Join('\n', emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Take(30)));
        }
        image.Position = 0;
        return new AssemblyLoadContext("nswag-client", isCollectible: true).LoadFromStream(image);
    }

    /// <summary>Operation names as a user would pick them: the facade service and method, then the verb (QuayGetRepositoryGet).</summary>
    sealed class ServiceMethodNames : IOperationNameGenerator
    {
        readonly Dictionary<(string Path, string Verb), string> names = [];
        readonly HashSet<string> taken = [];

        public bool SupportsMultipleClients => false;

        public string GetClientName(NSwag.OpenApiDocument document, string path, string httpMethod, NSwag.OpenApiOperation operation) => "";

        public string GetOperationName(NSwag.OpenApiDocument document, string path, string httpMethod, NSwag.OpenApiOperation operation)
        {
            if (names.TryGetValue((path, httpMethod), out var known))
                return known;
            // operationId: package.Service.Method.verb, or distribution.<path>.verb, or healthz.
            var parts = operation.OperationId.Split('.');
            var stem = parts.Length >= 3 ? parts[^3] + parts[^2] : operation.OperationId;
            var name = string.Concat(stem.Split('_', '-').Select(Upper)) + Upper(httpMethod);
            var unique = name;
            for (var i = 2; !taken.Add(unique); i++)
                unique = name + i;
            return names[(path, httpMethod)] = unique;
        }

        static string Upper(string word) => word.Length == 0 ? word : char.ToUpperInvariant(word[0]) + word[1..];
    }

    /// <summary>Schema names with their service's package (QuayCreateRepositoryRequest, RegistryRepository), so that equal
    /// message names of different packages stay apart.</summary>
    sealed class PackageTypeNames : ITypeNameGenerator
    {
        readonly DefaultTypeNameGenerator inner = new();

        public string Generate(JsonSchema schema, string? typeNameHint, IEnumerable<string> reservedTypeNames)
        {
            if (typeNameHint is not null && typeNameHint.Contains('.'))
            {
                var parts = typeNameHint.Split('.');
                var package = parts[0] == "buildgrid" && parts.Length > 3 ? parts[parts[1] == "gateway" ? 2 : 1] : parts[^2];
                typeNameHint = char.ToUpperInvariant(package[0]) + package[1..] + parts[^1];
            }
            return inner.Generate(schema, typeNameHint, reservedTypeNames);
        }
    }
}
