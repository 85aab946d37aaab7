using System.Net;
using System.Net.Sockets;
using BuildGrid.Core.Contracts;
using BuildGrid.Core.Networking;
using BuildGrid.Registry.Domain;
using Microsoft.Extensions.Options;

namespace BuildGrid.Registry.Proxy;

/// <summary>
/// Which upstream URLs a cache may use. The address policy is the webhooks' (<see cref="NetworkPolicy"/>: loopback,
/// link-local — where cloud metadata endpoints live —, metadata, unspecified, multicast and broadcast addresses are
/// refused; private networks are allowed), judged when a cache is configured and again on every connection (so a name
/// that later resolves to a refused address is refused too). Loopback is allowed for upstreams the operator wrote in
/// settings, and for API-configured ones only when Registry:Proxy:AllowLoopbackUpstreams is on.
/// </summary>
public sealed class UpstreamUrls
{
    static readonly string[] Loopback = ["127.0.0.0/8", "::1/128"];

    public UpstreamUrls(IOptions<ProxyOptions> options)
    {
        var allowed = options.Value.AllowedNetworks;
        ForApi = Policy(options.Value.AllowLoopbackUpstreams ? [.. allowed, .. Loopback] : allowed);
        ForSettings = Policy([.. allowed, .. Loopback]);
    }

    static NetworkPolicy Policy(List<string> allowed) =>
        new(allowed, "Registry:Proxy:AllowedNetworks");

    /// <summary>The policy of upstreams configured through the API.</summary>
    public NetworkPolicy ForApi { get; }

    /// <summary>The policy of upstreams in settings (loopback allowed).</summary>
    public NetworkPolicy ForSettings { get; }

    public NetworkPolicy For(Upstream upstream) => upstream.FromSettings ? ForSettings : ForApi;

    /// <summary>Why a namespace name cannot be a cache, or null: it is the first component of repository names.</summary>
    public static string? NamespaceProblem(string? name) =>
        OciNames.IsValidRepository(name) && !name!.Contains('/') ? null
            : $"'{Names.Shorten(name)}' is not a namespace: one lower-case component of a repository name (a-z0-9 joined by '.', '_', '__' or '-')";

    /// <summary>Parses an upstream's root URL: absolute http(s), no credentials, query or fragment, no path. Returns why not, or null.</summary>
    public static string? Parse(string? text, out Uri? url)
    {
        url = null;
        if (string.IsNullOrWhiteSpace(text) || !Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri)
            || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
            return $"'{Names.Shorten(text)}' is not an http(s) URL of a registry (such as https://registry-1.docker.io)";
        if (uri.UserInfo.Length > 0)
            return "the URL must not carry credentials: set username and password instead";
        if (uri.Query.Length > 0 || uri.Fragment.Length > 0)
            return "the URL must not have a query or fragment";
        if (uri.AbsolutePath is not ("/" or "" or "/v2" or "/v2/"))
            return $"the URL must be the registry's root (such as {uri.Scheme}://{uri.Authority}), not a path in it";
        url = new Uri($"{uri.Scheme}://{uri.Authority}/");
        return null;
    }

    /// <summary>Why the policy refuses the URL's host (a literal, localhost, or every address a name resolves to now), or null.</summary>
    public static async Task<string?> RefusalAsync(NetworkPolicy policy, Uri url, CancellationToken cancellationToken)
    {
        var host = url.IdnHost.Trim('[', ']');
        IPAddress[] addresses;
        if (IPAddress.TryParse(host, out var literal))
            addresses = [literal];
        else if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
            addresses = [IPAddress.Loopback];
        else
        {
            try
            {
                addresses = await Dns.GetHostAddressesAsync(host, cancellationToken);
            }
            catch (SocketException)
            {
                return null;   // not resolvable now; every connection is checked when it is
            }
        }
        foreach (var address in addresses)
            if (policy.Refusal(address) is not null)
                return $"the upstream's address {address} is one upstreams may not reach (loopback, link-local, cloud metadata, "
                    + "unspecified, multicast); Registry:Proxy:AllowedNetworks or AllowLoopbackUpstreams allows a network";
        return null;
    }
}
