using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Zadig;

/// <summary>Calls the Zadig builds API and the /buildgrid/v1 extension as curl does (<c>-d</c> sends the form content type).</summary>
public sealed class ZadigApi(HttpClient http)
{
    public sealed record Answer(HttpStatusCode Status, JsonElement Root, string Text)
    {
        public string Description => Root.GetProperty("description").GetString()!;
        public string Field => Root.GetProperty("extra").TryGetProperty("field", out var f) ? f.GetString()! : "";
        public string Reason => Root.GetProperty("extra").GetProperty("reason").GetString()!;

        public void AssertSuccess()
        {
            Assert.True(Status == HttpStatusCode.OK, Text);
            Assert.Equal("""{"message":"success"}""", Text);
        }

        /// <summary>Zadig's build-module errors (pkg/tool/errors/http_errors.go): HTTP 400, the module code and message in the body.</summary>
        public void AssertModuleError(int code, string message)
        {
            Assert.True(Status == HttpStatusCode.BadRequest, $"{(int)Status}: {Text}");
            Assert.Equal("error", Root.GetProperty("type").GetString());
            Assert.Equal(code, Root.GetProperty("code").GetInt32());
            Assert.Equal(message, Root.GetProperty("message").GetString());
            Assert.False(string.IsNullOrEmpty(Root.GetProperty("description").GetString()), Text);
        }

        /// <summary>Zadig's error shape: HTTP status = code, type "error", a description naming the field.</summary>
        public void AssertError(HttpStatusCode status, string? field = null)
        {
            Assert.True(Status == status, $"{(int)Status}: {Text}");
            Assert.Equal("error", Root.GetProperty("type").GetString());
            Assert.Equal((int)status, Root.GetProperty("code").GetInt32());
            Assert.False(string.IsNullOrEmpty(Root.GetProperty("message").GetString()), Text);
            Assert.True(Root.TryGetProperty("extra", out _), Text);
            if (field is not null)
            {
                Assert.Equal(field, Field);
                Assert.Contains(field.Split('.')[^1].Split('[')[0], Description);
            }
        }
    }

    public async Task<Answer> SendAsync(HttpMethod method, string path, string? body = null, string contentType = "application/x-www-form-urlencoded")
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        }
        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/json", $"{(int)response.StatusCode} {response.Content.Headers.ContentType}: {text}");
        return new Answer(response.StatusCode, JsonDocument.Parse(text).RootElement.Clone(), text);
    }

    public Task<Answer> PostAsync(string path, string body) => SendAsync(HttpMethod.Post, path, body);
    public Task<Answer> PutAsync(string path, string body) => SendAsync(HttpMethod.Put, path, body);
    public Task<Answer> GetAsync(string path) => SendAsync(HttpMethod.Get, path);
    public Task<Answer> DeleteAsync(string path) => SendAsync(HttpMethod.Delete, path);

    /// <summary>A JSON call to the /buildgrid/v1 extension.</summary>
    public Task<Answer> JsonAsync(HttpMethod method, string path, object? body = null) =>
        SendAsync(method, path, body is null ? null : body as string ?? JsonSerializer.Serialize(body), "application/json");

    public static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    /// <summary>A build body in the shape of seed 002's example: one shell script, the given parameters and repos.</summary>
    public static JsonObject Build(string project, string name, string script, JsonArray? parameters = null, JsonArray? repos = null,
        JsonObject? advanced = null) => new()
    {
        ["name"] = name,
        ["project_key"] = project,
        ["infrastructure"] = "vm",
        ["build_os"] = "ubuntu 22.04",
        ["installs"] = new JsonArray(),
        ["script_type"] = "shell",
        ["build_script"] = script,
        ["repo_info"] = repos ?? new JsonArray(),
        ["parameters"] = parameters ?? new JsonArray(),
        ["services"] = new JsonArray(new JsonObject { ["service_name"] = "svc", ["service_module"] = "mod" }),
        ["advanced_settings"] = advanced ?? new JsonObject(),
    };

    /// <summary>A code host for a <see cref="GitRepository"/>: (code host url, repo_namespace, repo_name) that resolve to it.</summary>
    public static (string Url, string Namespace, string Name) Locate(GitRepository repository)
    {
        var bare = repository.Url["file://".Length..];
        var namespaceDir = Path.GetDirectoryName(bare)!;
        return ("file://" + Path.GetDirectoryName(namespaceDir)!, Path.GetFileName(namespaceDir), Path.GetFileNameWithoutExtension(bare));
    }
}
