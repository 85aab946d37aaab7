using System.Net;
using System.Text;
using System.Text.Json;

namespace BuildGrid.Tests.Infrastructure;

/// <summary>Calls the image-market REST API as a script would, and reads its envelope.</summary>
public sealed class ImageMarketApi(HttpClient http)
{
    public sealed record Envelope(HttpStatusCode Status, int Code, string ErrMsg, JsonElement Content, JsonElement Root);

    public Task<Envelope> PostJsonAsync(string path, object body) => PostAsync(path, JsonSerializer.Serialize(body), "application/json");

    public async Task<Envelope> PostAsync(string path, string body, string contentType = "application/json")
    {
        using var content = new StringContent(body, Encoding.UTF8);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        using var response = await http.PostAsync(path, content, TestContext.Current.CancellationToken);
        return await ReadAsync(response);
    }

    public async Task<Envelope> PostBytesAsync(string path, byte[] body, string contentType)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        using var response = await http.PostAsync(path, content, TestContext.Current.CancellationToken);
        return await ReadAsync(response);
    }

    public async Task<Envelope> GetAsync(string pathAndQuery)
    {
        using var response = await http.GetAsync(pathAndQuery, TestContext.Current.CancellationToken);
        return await ReadAsync(response);
    }

    public static async Task<Envelope> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.ToString() ?? "");
        var root = JsonDocument.Parse(text).RootElement.Clone();
        return new Envelope(response.StatusCode, root.GetProperty("code").GetInt32(), root.GetProperty("errMsg").GetString()!,
            root.TryGetProperty("content", out var content) ? content : default, root);
    }

    public Task<Envelope> NewAsync(string name, string @operator = "root") =>
        PostJsonAsync("/api/project/new", new { projectName = name, @operator });

    public Task<Envelope> InfoAsync(string name) => GetAsync($"/api/project/info?projectName={Uri.EscapeDataString(name)}&operator=admin");

    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 60)];
}
