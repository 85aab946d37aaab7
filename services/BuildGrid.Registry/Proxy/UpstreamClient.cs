using BuildGrid.Core.Networking;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using BuildGrid.Registry.Notifications;

namespace BuildGrid.Registry.Proxy;

/// <summary>The upstream could not be asked (unreachable, refused address, timeout, refused credentials).</summary>
public sealed class UpstreamUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Requests to upstream registries as a distribution client makes them: a 401 with <c>WWW-Authenticate: Bearer
/// realm=...,service=...</c> is answered by fetching a token from the realm for <c>repository:&lt;repo&gt;:pull</c>
/// (with the cache's username and password as Basic credentials when it has them) and retrying; <c>Basic</c> is
/// answered with the credentials. Tokens are kept until they expire (distribution's default: 60 s). Redirects (a blob
/// served from a CDN) are followed by hand, at most 5, without credentials once the host changes; every connection
/// goes through the address policy (<see cref="UpstreamUrls"/>).
/// </summary>
public sealed class UpstreamClient : IDisposable
{
    readonly HttpClient forApi;
    readonly HttpClient forSettings;
    readonly ConcurrentDictionary<string, (string Header, long ExpiresAt)> authorizations = new(StringComparer.Ordinal);

    public UpstreamClient(UpstreamUrls urls)
    {
        forApi = new HttpClient(urls.ForApi.CreateHandler()) { Timeout = Timeout.InfiniteTimeSpan };
        forSettings = new HttpClient(urls.ForSettings.CreateHandler()) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>
    /// Sends one request to <c>/v2/&lt;repository&gt;/&lt;path&gt;</c> of the upstream and answers its response (headers
    /// read; the caller reads and disposes the body). Throws <see cref="UpstreamUnavailableException"/> when no answer came.
    /// </summary>
    public async Task<HttpResponseMessage> SendAsync(Upstream upstream, HttpMethod method, string repository, string path,
        IEnumerable<string> accept, CancellationToken cancellationToken)
    {
        var client = upstream.FromSettings ? forSettings : forApi;
        var key = $"{upstream.Namespace}\n{upstream.Url}\n{upstream.UpdatedAt}\n{repository}";
        var url = new Uri(upstream.Url, $"v2/{repository}/{path}");
        try
        {
            var authorization = authorizations.TryGetValue(key, out var known) && known.ExpiresAt > Environment.TickCount64 ? known.Header : null;
            var response = await SendFollowingAsync(client, method, url, accept, authorization, cancellationToken);
            if (response.StatusCode != HttpStatusCode.Unauthorized)
                return response;
            var challenge = response.Headers.WwwAuthenticate.FirstOrDefault();
            response.Dispose();
            var granted = challenge?.Scheme.ToLowerInvariant() switch
            {
                "bearer" => await TokenAsync(client, upstream, challenge.Parameter ?? "", repository, cancellationToken),
                "basic" when upstream.HasCredentials => Basic(upstream),
                _ => throw new UpstreamUnavailableException(upstream.HasCredentials
                    ? $"{upstream.Url} refused the cache's credentials"
                    : $"{upstream.Url} asks for credentials ({challenge?.Scheme ?? "no challenge"}); set the cache's username and password"),
            };
            response = await SendFollowingAsync(client, method, url, accept, granted.Header, cancellationToken);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                response.Dispose();
                authorizations.TryRemove(key, out _);
                throw new UpstreamUnavailableException($"{upstream.Url} refused the cache's credentials for {repository}");
            }
            authorizations[key] = granted;
            return response;
        }
        catch (HttpRequestException e)
        {
            throw new UpstreamUnavailableException(e.InnerException is NetworkRefusedException refused
                ? $"{upstream.Url} is refused: {refused.Message}" : $"{upstream.Url} is unreachable: {e.Message}", e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested || e is TaskCanceledException { InnerException: TimeoutException })
        {
            throw new UpstreamUnavailableException($"{upstream.Url} did not answer in time", e);
        }
    }

    static (string Header, long ExpiresAt) Basic(Upstream upstream) =>
        ("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{upstream.Username}:{upstream.Password}")), long.MaxValue);

    static async Task<HttpResponseMessage> SendFollowingAsync(HttpClient client, HttpMethod method, Uri url, IEnumerable<string> accept,
        string? authorization, CancellationToken cancellationToken)
    {
        var origin = url;
        for (var hop = 0; ; hop++)
        {
            using var request = new HttpRequestMessage(method, url);
            foreach (var type in accept)
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
            if (authorization is not null && SameOrigin(origin, url))
                request.Headers.TryAddWithoutValidation("Authorization", authorization);
            var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if ((int)response.StatusCode is not (301 or 302 or 303 or 307 or 308) || response.Headers.Location is not { } location)
                return response;
            response.Dispose();
            if (hop == 5)
                throw new UpstreamUnavailableException($"{origin} redirected more than 5 times");
            url = location.IsAbsoluteUri ? location : new Uri(url, location);
            if (url.Scheme is not ("http" or "https"))
                throw new UpstreamUnavailableException($"{origin} redirected to a {url.Scheme} URL");
            if ((int)response.StatusCode == 303)
                method = method == HttpMethod.Head ? HttpMethod.Head : HttpMethod.Get;
        }
    }

    static bool SameOrigin(Uri a, Uri b) => Uri.Compare(a, b, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;

    /// <summary>The distribution token flow: GET realm?service=&amp;scope=repository:&lt;repo&gt;:pull, answering {token} or {access_token}.</summary>
    static async Task<(string Header, long ExpiresAt)> TokenAsync(HttpClient client, Upstream upstream, string challenge, string repository,
        CancellationToken cancellationToken)
    {
        var parameters = ParseChallenge(challenge);
        if (!parameters.TryGetValue("realm", out var realmText) || !Uri.TryCreate(realmText, UriKind.Absolute, out var realm)
            || realm.Scheme is not ("http" or "https"))
            throw new UpstreamUnavailableException($"{upstream.Url} sent a Bearer challenge without a usable realm");
        var query = new StringBuilder(realm.Query.Length > 1 ? realm.Query[1..] + "&" : "");
        if (parameters.TryGetValue("service", out var service))
            query.Append("service=").Append(Uri.EscapeDataString(service)).Append('&');
        query.Append("scope=").Append(Uri.EscapeDataString($"repository:{repository}:pull"));
        var url = new UriBuilder(realm) { Query = query.ToString() }.Uri;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (upstream.HasCredentials)
            request.Headers.TryAddWithoutValidation("Authorization", Basic(upstream).Header);
        var started = Environment.TickCount64;
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
            throw new UpstreamUnavailableException($"the token realm {realm.GetLeftPart(UriPartial.Path)} answered {(int)response.StatusCode}"
                + (upstream.HasCredentials ? " to the cache's credentials" : ""));
        using var body = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), default, cancellationToken);
        var root = body.RootElement;
        var token = root.TryGetProperty("token", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()
            : root.TryGetProperty("access_token", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
        if (string.IsNullOrEmpty(token))
            throw new UpstreamUnavailableException($"the token realm {realm.GetLeftPart(UriPartial.Path)} answered no token");
        var lifetime = root.TryGetProperty("expires_in", out var e) && e.TryGetInt32(out var seconds) && seconds > 0 ? seconds : 60;
        // Renewed a little early, so that a token does not lapse between our check and the upstream's.
        return ("Bearer " + token, started + Math.Max(1, lifetime - 5) * 1000L);
    }

    /// <summary>The <c>key="value"</c> pairs of a challenge (quoted values may hold commas).</summary>
    internal static Dictionary<string, string> ParseChallenge(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] == ',' || char.IsWhiteSpace(text[i]))) i++;
            var eq = text.IndexOf('=', i);
            if (eq < 0) break;
            var key = text[i..eq].Trim();
            i = eq + 1;
            string value;
            if (i < text.Length && text[i] == '"')
            {
                var sb = new StringBuilder();
                for (i++; i < text.Length && text[i] != '"'; i++)
                    sb.Append(text[i] == '\\' && i + 1 < text.Length ? text[++i] : text[i]);
                i++;
                value = sb.ToString();
            }
            else
            {
                var comma = text.IndexOf(',', i);
                value = (comma < 0 ? text[i..] : text[i..comma]).Trim();
                i = comma < 0 ? text.Length : comma;
            }
            result[key] = value;
        }
        return result;
    }

    public void Dispose()
    {
        forApi.Dispose();
        forSettings.Dispose();
    }
}
