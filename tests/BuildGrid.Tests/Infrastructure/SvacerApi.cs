using System.Net;
using System.Text;
using System.Text.Json;

namespace BuildGrid.Tests.Infrastructure;

/// <summary>Calls the Svacer REST API as the document's examples do: <c>curl --data '{json}'</c>, that is a JSON text
/// sent with the form content type.</summary>
public sealed class SvacerApi(HttpClient http)
{
    public const string ContainersPath = "/api/public/admin/server/containers";
    public const string GroupsPath = "/api/public/admin/server/project-groups";
    public const string FormType = "application/x-www-form-urlencoded";

    public sealed record Answer(HttpStatusCode Status, JsonElement Root, string Text)
    {
        public JsonElement[] Containers => Root.GetProperty("Containers").EnumerateArray().ToArray();
        public string Error => Root.GetProperty("error").GetString()!;
        public string Reason => Root.GetProperty("reason").GetString()!;
    }

    public Task<Answer> ContainersAsync(object body) => SendAsync(HttpMethod.Post, ContainersPath, JsonSerializer.Serialize(body));
    public Task<Answer> GroupsAsync(object body) => SendAsync(HttpMethod.Post, GroupsPath, JsonSerializer.Serialize(body));

    /// <summary>Sends <paramref name="body"/> verbatim with <paramref name="contentType"/> (curl --data's by default).</summary>
    public async Task<Answer> SendAsync(HttpMethod method, string path, string? body, string contentType = FormType)
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

    public async Task<JsonElement> AddAsync(string type, string name, string? parent = null, bool? reviewWithComment = null)
    {
        var body = new Dictionary<string, object> { ["action"] = "add", ["type"] = type, ["name"] = name };
        if (parent is not null) body["parent"] = parent;
        if (reviewWithComment is not null) body["review_with_comment"] = reviewWithComment.Value;
        var answer = await ContainersAsync(body);
        Assert.True(answer.Status == HttpStatusCode.OK, answer.Text);
        return Assert.Single(answer.Containers);
    }

    public async Task<string> AddIdAsync(string type, string name, string? parent = null) =>
        (await AddAsync(type, name, parent)).GetProperty("id").GetString()!;

    public async Task<JsonElement[]> ListAsync(object body)
    {
        var answer = await ContainersAsync(body);
        Assert.True(answer.Status == HttpStatusCode.OK, answer.Text);
        return answer.Containers;
    }

    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    /// <summary>The JSON property names of an object, in order.</summary>
    public static string[] Fields(JsonElement item) => item.EnumerateObject().Select(p => p.Name).ToArray();
}
