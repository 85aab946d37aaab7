using System.Net;
using System.Text;
using System.Text.Json;

namespace BuildGrid.Tests.Quay;

/// <summary>Raw calls to the Quay facade: status, JSON body (Undefined when empty) and content length.</summary>
public sealed class QuayApi(HttpClient http)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async Task<(HttpStatusCode Status, JsonElement Body, string Text)> SendAsync(HttpMethod method, string path, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
            request.Content = new StringContent(body as string ?? JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), text);
    }

    public async Task<JsonElement> ExpectAsync(HttpStatusCode expected, HttpMethod method, string path, object? body = null)
    {
        var (status, json, text) = await SendAsync(method, path, body);
        Assert.True(status == expected, $"{method} {path}: expected {(int)expected}, got {(int)status} {text}");
        return json;
    }

    public async Task<string> CreateRepositoryAsync(string ns, string name, string visibility = "private", string description = "test")
    {
        await ExpectAsync(HttpStatusCode.Created, HttpMethod.Post, "/api/v1/repository",
            new { repository = name, visibility, description, @namespace = ns });
        return $"{ns}/{name}";
    }

    public async Task<string> CreateNotificationAsync(string repository, string @event, string method, object config, object? eventConfig = null)
    {
        var created = await ExpectAsync(HttpStatusCode.Created, HttpMethod.Post, $"/api/v1/repository/{repository}/notification/",
            new { @event, method, config, eventConfig = eventConfig ?? new { } });
        return created.GetProperty("uuid").GetString()!;
    }

    public Task<JsonElement> NotificationAsync(string repository, string uuid) =>
        ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{repository}/notification/{uuid}");

    public async Task<JsonElement> DeliveriesAsync(string repository, string uuid) =>
        (await ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{repository}/notification/{uuid}/deliveries")).GetProperty("deliveries");

    /// <summary>Polls an async read until the condition holds.</summary>
    public static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done, int timeoutMs = 15_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (true)
        {
            var value = await read();
            if (done(value))
                return value;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"condition not met within {timeoutMs} ms; last value: {value}");
            await Task.Delay(50, Ct);
        }
    }
}
