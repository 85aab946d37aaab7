using System.ComponentModel.DataAnnotations;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace BuildGrid.Core.Networking;

/// <summary>
/// The one address policy for every outbound request a user can aim (webhooks, download-file steps, proxy-cache
/// upstreams): a URL must be http(s), and every address its host resolves to must be outside the refused ranges —
/// loopback, link-local (the cloud metadata endpoints), unspecified, multicast, broadcast, and every address of this
/// host's own interfaces — unless one of the configured networks allows it. Private networks are allowed.
/// Check a URL when it is stored (<see cref="CheckUrlAsync"/>, or <see cref="CheckLiteral"/> where no DNS may be asked)
/// and dial through <see cref="CreateHandler"/>, which checks the address actually connected to (DNS rebinding).
/// </summary>
public sealed class NetworkPolicy
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

    /// <summary>IPv6 forms that carry an IPv4 address in their last 32 bits: NAT64 and the deprecated IPv4-compatible form.</summary>
    static readonly IPNetwork[] Embedding = [IPNetwork.Parse("64:ff9b::/96"), IPNetwork.Parse("::/96")];
    /// <summary>6to4 carries an IPv4 address in bits 16-47.</summary>
    static readonly IPNetwork SixToFour = IPNetwork.Parse("2002::/16");

    static readonly TimeSpan InterfaceRefresh = TimeSpan.FromSeconds(10);
    static readonly Lock InterfaceLock = new();
    static IPAddress[]? interfaceAddresses;
    static long interfacesReadAt;

    readonly IPNetwork[] allowed;
    readonly string setting;

    /// <param name="allowedNetworks">CIDR networks allowed although refused by default (such as "127.0.0.1/32").</param>
    /// <param name="setting">The configuration key of <paramref name="allowedNetworks"/>, named in every refusal.</param>
    public NetworkPolicy(IEnumerable<string> allowedNetworks, string setting)
    {
        allowed = allowedNetworks.Select(n => IPNetwork.Parse(n.Trim())).ToArray();
        this.setting = setting;
    }

    /// <summary>True when <paramref name="address"/> may be dialled given <paramref name="allowedNetworks"/>.</summary>
    public static bool IsAllowed(IPAddress address, IReadOnlyCollection<IPNetwork> allowedNetworks) =>
        RefusedRange(Unwrap(address), allowedNetworks) is null;

    /// <summary>Why the address is refused, or null when it may be dialled.</summary>
    public string? Refusal(IPAddress address)
    {
        address = Unwrap(address);
        return RefusedRange(address, allowed) is { } range
            ? $"the address {address} is {range}, which may not be targeted unless {setting} allows it"
            : null;
    }

    static string? RefusedRange(IPAddress address, IReadOnlyCollection<IPNetwork> allowedNetworks)
    {
        if (allowedNetworks.Any(n => n.Contains(address)))
            return null;
        foreach (var network in Refused)
            if (network.Contains(address))
                return $"in {network}";
        return IsOwnAddress(address) ? "an address of this host" : null;
    }

    /// <summary>The IPv4 address an IPv6 address stands for (mapped, NAT64, IPv4-compatible, 6to4), else the address itself.</summary>
    public static IPAddress Unwrap(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
            return address.MapToIPv4();
        if (address.AddressFamily != AddressFamily.InterNetworkV6 || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.IPv6Loopback))
            return address;
        var bytes = address.GetAddressBytes();
        if (Embedding.Any(n => n.Contains(address)))
            return new IPAddress(bytes.AsSpan(12, 4));
        return SixToFour.Contains(address) ? new IPAddress(bytes.AsSpan(2, 4)) : address;
    }

    /// <summary>Whether the address belongs to one of this host's interfaces (read again every 10 s, so a new address counts).</summary>
    static bool IsOwnAddress(IPAddress address)
    {
        var bytes = address.GetAddressBytes();   // without the IPv6 scope id, which Equals would compare
        return OwnAddresses().Any(a => a.AddressFamily == address.AddressFamily && a.GetAddressBytes().AsSpan().SequenceEqual(bytes));
    }

    static IPAddress[] OwnAddresses()
    {
        lock (InterfaceLock)
        {
            if (interfaceAddresses is not null && Environment.TickCount64 - interfacesReadAt < InterfaceRefresh.TotalMilliseconds)
                return interfaceAddresses;
            try
            {
                interfaceAddresses = NetworkInterface.GetAllNetworkInterfaces()
                    .SelectMany(i => i.GetIPProperties().UnicastAddresses.Select(u => Unwrap(u.Address)))
                    .ToArray();
            }
            catch (NetworkInformationException)
            {
                // Keep the last list; loopback and link-local are refused by range whatever happens here.
                interfaceAddresses ??= [];
            }
            interfacesReadAt = Environment.TickCount64;
            return interfaceAddresses;
        }
    }

    /// <summary>An absolute http(s) URL with a host; every check below takes one.</summary>
    public static bool TryParseHttpUrl(string url, [NotNullWhen(true)] out Uri? uri) =>
        Uri.TryCreate(url, UriKind.Absolute, out uri) && (uri.Scheme is "http" or "https") && uri.Host.Length > 0;

    /// <summary>
    /// Checks a URL's host without asking DNS: an IP literal or a localhost name must be allowed. Returns why it is
    /// refused, or null. A name that resolves to a refused address is caught by <see cref="CheckUrlAsync"/> and at
    /// connect time.
    /// </summary>
    public string? CheckLiteral(Uri uri)
    {
        var host = uri.IdnHost.Trim('[', ']');
        if (IPAddress.TryParse(host, out var literal))
            return Refusal(literal);
        return IsLocalName(host) ? Refusal(IPAddress.Loopback) : null;
    }

    /// <summary>Checks a URL's host and every address it resolves to now; returns why it is refused, or null.</summary>
    public async Task<string?> CheckUrlAsync(Uri uri, CancellationToken cancellationToken)
    {
        if (CheckLiteral(uri) is { } refusal)
            return refusal;
        if (IsLiteralOrLocal(uri.IdnHost))
            return null;
        try
        {
            foreach (var address in await Dns.GetHostAddressesAsync(uri.IdnHost, cancellationToken))
                if (Refusal(address) is { } refused)
                    return $"{uri.IdnHost} resolves to {address}: {refused}";
        }
        catch (SocketException)
        {
            // Not resolvable now; the connect-time check still applies when it becomes resolvable.
        }
        return null;
    }

    static bool IsLiteralOrLocal(string host) => IPAddress.TryParse(host.Trim('[', ']'), out _) || IsLocalName(host);

    static bool IsLocalName(string host) =>
        host.TrimEnd('.').Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || host.TrimEnd('.').EndsWith(".localhost", StringComparison.OrdinalIgnoreCase);

    /// <summary>A handler that connects only to permitted addresses (checked on the address dialled) and follows no redirects.</summary>
    public SocketsHttpHandler CreateHandler() => new()
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        ConnectCallback = async (context, cancellationToken) =>
        {
            var host = context.DnsEndPoint.Host;
            var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal]
                : IsLocalName(host) ? [IPAddress.Loopback]
                : await Dns.GetHostAddressesAsync(host, cancellationToken);
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
            throw new NetworkRefusedException(refusal ?? $"{host} has no address");
        },
    };
}

/// <summary>A connection the <see cref="NetworkPolicy"/> refused; the message names the address and the setting.</summary>
public sealed class NetworkRefusedException(string message) : Exception(message);

/// <summary>Every entry is a network in CIDR form, so that a typo in an allowed-networks setting stops the start naming it.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class CidrListAttribute : ValidationAttribute
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        value is IEnumerable<string> networks && networks.FirstOrDefault(n => !IPNetwork.TryParse(n.Trim(), out _)) is { } bad
            ? new ValidationResult($"'{bad}' is not a network in CIDR form (such as 10.0.0.0/8 or 127.0.0.1/32)",
                validationContext.MemberName is { } member ? [member] : null)
            : ValidationResult.Success;
}
