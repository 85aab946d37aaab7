using System.Net;
using System.Text.RegularExpressions;

namespace BuildGrid.Tests.Console;

/// <summary>
/// The console over plain HTTP, as a browser without script uses it: a cookie jar, no automatic redirects, and forms
/// posted with the antiforgery token read from the page that holds them.
/// </summary>
public sealed partial class ConsoleClient : IDisposable
{
    readonly HttpClient http;

    public ConsoleClient(Uri restUrl)
    {
        Cookies = new CookieContainer();
        http = new HttpClient(new HttpClientHandler { CookieContainer = Cookies, AllowAutoRedirect = false }) { BaseAddress = restUrl };
    }

    public CookieContainer Cookies { get; }

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [GeneratedRegex("name=\"__csrf\" type=\"hidden\" value=\"(?<token>[^\"]+)\"")]
    private static partial Regex TokenField();

    public Task<HttpResponseMessage> GetAsync(string path) => http.GetAsync(path, Ct);

    public async Task<string> PageAsync(string path)
    {
        using var response = await GetAsync(path);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {response.Headers.Location}");
        return await response.Content.ReadAsStringAsync(Ct);
    }

    /// <summary>Posts a form of the page at <paramref name="formPage"/> to <paramref name="action"/>, with that page's antiforgery token.</summary>
    public async Task<HttpResponseMessage> PostFormAsync(string formPage, string action, IEnumerable<KeyValuePair<string, string>> fields, bool withToken = true)
    {
        var values = fields.ToList();
        if (withToken)
        {
            var page = await PageAsync(formPage);
            values.Add(new("__csrf", TokenField().Match(page) is { Success: true } m ? m.Groups["token"].Value : throw new InvalidOperationException($"no antiforgery token on {formPage}")));
        }
        using var content = new FormUrlEncodedContent(values);
        return await http.PostAsync(action, content, Ct);
    }

    public async Task SignInAsync(string user, string password)
    {
        using var response = await PostFormAsync("/console/signin", "/console/signin", [new("UserName", user), new("Password", password)]);
        Assert.True(response.StatusCode == HttpStatusCode.Redirect, $"sign-in answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(Ct)}");
    }

    public void Dispose() => http.Dispose();
}
