using System.Text;
using System.Text.Json;

namespace BuildGrid.Hostile.Tests.Campaign;

/// <summary>One HTTP request of the campaign, as bytes, so that sending it again sends the same thing.</summary>
public sealed record HttpShot(string Method, string PathAndQuery, byte[]? Body = null, string? ContentType = null,
    IReadOnlyList<KeyValuePair<string, string>>? Headers = null)
{
    public string Describe() =>
        $"{Method} {Shorten(PathAndQuery)}" + (Body is null ? "" : $" [{ContentType}] {Shorten(Encoding.UTF8.GetString(Body, 0, Math.Min(Body.Length, 200)))} ({Body.Length} B)")
        + (Headers is { Count: > 0 } ? " headers: " + string.Join(", ", Headers.Select(h => $"{h.Key}={Shorten(h.Value)}")) : "");

    static string Shorten(string text) => text.Length > 120 ? text[..120] + "…" : text;

    public HostileRequest ToRequest(string surface, HttpClient client) =>
        // Harbor's seed reads tags and manifests with POST: reads, whose hiding of private repositories is checked apart.
        new(surface, Describe(), Mutating: Method is not ("GET" or "HEAD")
            && !HostileCampaignTests.HarborPostReads.Any(r => PathAndQuery.StartsWith(r + "?", StringComparison.Ordinal) || PathAndQuery == r),
            (caller, ct) => SendAsync(client, caller, ct));

    public async Task<Outcome> SendAsync(HttpClient client, CallerProfile caller, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(new HttpMethod(Method), new Uri(PathAndQuery, UriKind.Relative));
        if (Body is not null)
        {
            request.Content = new ByteArrayContent(Body);
            if (ContentType is not null)
                request.Content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
        }
        foreach (var (name, value) in Headers ?? [])
            request.Headers.TryAddWithoutValidation(name, value);
        caller.Authorize(request);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        return Classify((int)response.StatusCode, body);
    }

    /// <summary>
    /// HTTP status class; the imagemarket dialect answers 200 to everything and puts the outcome in <c>code</c>
    /// (10000 ok, 10100 internal error).
    /// </summary>
    public static Outcome Classify(int status, string body)
    {
        var imageMarketCode = ImageMarketCode(body);
        var rejected = status >= 400 || imageMarketCode is { } code && code != 10000;
        var fault = status >= 500 || imageMarketCode == 10100;
        var bucket = $"{status / 100}xx" + (imageMarketCode is { } c2 && c2 != 10000 ? $" (code {c2})" : "");
        return new Outcome(status, bucket, rejected, fault, body);
    }

    static int? ImageMarketCode(string body)
    {
        if (body.Length == 0 || body[0] != '{' || !body.Contains("\"errMsg\"", StringComparison.Ordinal))
            return null;
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.TryGetProperty("code", out var code) && code.ValueKind == JsonValueKind.Number ? code.GetInt32() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
