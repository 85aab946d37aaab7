using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace BuildGrid.Core.Hosting;

/// <summary>
/// The two listeners of a BuildGrid process: REST (HTTP/1.1) and gRPC (h2c). Kestrel writes the bound port back
/// into the listen options, so after start these are the real addresses even when the settings asked for port 0.
/// </summary>
public sealed class BuildGridEndpoints
{
    internal ListenOptions? Rest { get; set; }
    internal ListenOptions? Grpc { get; set; }

    public Uri RestUri => ToUri(Rest, "REST");
    public Uri GrpcUri => ToUri(Grpc, "gRPC");

    /// <summary>Whether the REST listener takes every address of the machine (0.0.0.0 or [::]), not one.</summary>
    public bool RestListensOnAnyAddress => Rest?.IPEndPoint?.Address is { } address && (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any));

    static Uri ToUri(ListenOptions? options, string name)
    {
        var endpoint = options?.IPEndPoint ?? throw new InvalidOperationException($"The {name} listener is not configured.");
        if (endpoint.Port == 0)
            throw new InvalidOperationException($"The {name} listener is not bound yet.");
        var host = endpoint.Address.Equals(IPAddress.Any) ? "127.0.0.1"
            : endpoint.Address.Equals(IPAddress.IPv6Any) ? "[::1]"
            : endpoint.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{endpoint.Address}]"
            : endpoint.Address.ToString();
        return new Uri($"http://{host}:{endpoint.Port}");
    }
}
