using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace BuildGrid.Registry.Notifications;

/// <summary>
/// Server-side request forgery guard for webhook targets: a URL must be http(s), and every address its host resolves
/// to must be outside the refused ranges unless a configured network allows it. The check runs when a notification is
/// created (IP literals and resolvable names) and again at connect time on the address actually dialled, so a name that
/// later resolves to a metadata address (DNS rebinding) is refused too.
/// </summary>
public sealed class WebhookTargets
{
    static readonly IPNetwork[] Refused =
    [
        IPNetwork.Parse("127.0.0.0/8"), IPNetwork.Parse("::1/128"),
        IPNetwork.Parse("169.254.0.0/16"), IPNetwork.Parse("fe80::/10"),
        IPNetwork.Parse("fd00:ec2::254/128"),
        IPNetwork.Parse("100.100.100.200/32"),   // Alibaba Cloud metadata
        IPNetwork.Parse("0.0.0.0/8"), IPNetwork.Parse("::/128"),
        IPNetwork.Parse("224.0.0.0/4"), IPNetwork.Parse("ff00::/8"), IPNetwork.Parse("255.255.255.255/32"),
    ];

    readonly IPNetwork[] allowed;

    public WebhookTargets(IOptions<NotificationOptions> options)
    {
        allowed = options.Value.AllowedNetworks.Select(n => IPNetwork.Parse(n.Trim())).ToArray();
    }

    /// <summary>IPv6 forms that carry an IPv4 address in their last 32 bits: NAT64 and the deprecated IPv4-compatible form.</summary>
    static readonly IPNetwork[] Embedding = [IPNetwork.Parse("64:ff9b::/96"), IPNetwork.Parse("::/96")];
    /// <summary>6to4 carries an IPv4 address in bits 16-47.</summary>
    static readonly IPNetwork SixToFour = IPNetwork.Parse("2002::/16");

    /// <summary>The IPv4 address an IPv6 address stands for (mapped, NAT64, IPv4-compatible, 6to4), else the address itself.</summary>
    static IPAddress Unwrap(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
            return address.MapToIPv4();
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6 || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.IPv6Loopback))
            return address;
        var bytes = address.GetAddressBytes();
        if (Embedding.Any(n => n.Contains(address)))
            return new IPAddress(bytes.AsSpan(12, 4));
        return SixToFour.Contains(address) ? new IPAddress(bytes.AsSpan(2, 4)) : address;
    }

    /// <summary>Why the address is refused, or null when a webhook may be sent to it.</summary>
    public string? Refusal(IPAddress address)
    {
        address = Unwrap(address);
        if (allowed.Any(n => n.Contains(address)))
            return null;
        foreach (var network in Refused)
            if (network.Contains(address))
                return $"the address {address} is in {network}, which webhooks may not target unless Registry:Notifications:AllowedNetworks allows it";
        return null;
    }

    /// <summary>Checks a webhook URL at creation; returns why it is refused, or null.</summary>
    public async Task<string?> CheckUrlAsync(string url, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
            return "Invalid webhook URL";
        if (IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var literal))
            return Refusal(literal);
        if (uri.IdnHost.Equals("localhost", StringComparison.OrdinalIgnoreCase) || uri.IdnHost.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
            return Refusal(IPAddress.Loopback);
        try
        {
            foreach (var address in await Dns.GetHostAddressesAsync(uri.IdnHost, cancellationToken))
                if (Refusal(address) is { } refusal)
                    return refusal;
        }
        catch (SocketException)
        {
            // Not resolvable now; the connect-time check still applies when it becomes resolvable.
        }
        return null;
    }

    /// <summary>The handler of the webhook HttpClient: connects only to permitted addresses, follows no redirects.</summary>
    public SocketsHttpHandler CreateHandler() => new()
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        ConnectCallback = async (context, cancellationToken) =>
        {
            var addresses = IPAddress.TryParse(context.DnsEndPoint.Host.Trim('[', ']'), out var literal)
                ? [literal]
                : await Dns.GetHostAddressesAsync(context.DnsEndPoint.Host, cancellationToken);
            string? refusal = null;
            foreach (var address in addresses)
            {
                if ((refusal = Refusal(address)) is not null)
                    continue;
                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    if (address == addresses[^1])
                        throw;
                }
            }
            throw new WebhookRefusedException(refusal ?? $"{context.DnsEndPoint.Host} has no address");
        },
    };
}

public sealed class WebhookRefusedException(string message) : Exception(message);
