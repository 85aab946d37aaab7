using System.Net;
using System.Security.Cryptography;
using System.Text;
using BuildGrid.Core.Hosting;
using Grpc.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace BuildGrid.Core.Events;

/// <summary>
/// Who may call Dapr's AppCallback (<see cref="DaprAppCallbackService"/>: subscriptions and event delivery): the
/// sidecar, and nobody else.
/// <list type="bullet">
/// <item>Only on the listener the sidecar is configured to call: the port in <c>APP_PORT</c> (which <c>dapr run</c>
/// sets, and the Kubernetes manifests set to the annotation's app port), else the gRPC listener.</item>
/// <item>With <c>APP_API_TOKEN</c> set (Dapr's app API token: daprd sends it as <c>dapr-api-token</c> metadata on every
/// call to the app), a call must carry exactly that token; otherwise Unauthenticated.</item>
/// <item>Without a token, only a loopback peer is taken — the sidecar runs beside the app (same pod, same host).</item>
/// </list>
/// A refused call is logged; it never reaches a handler.
/// </summary>
public sealed class DaprAppGuard(IConfiguration configuration, BuildGridEndpoints endpoints, ILogger<DaprAppGuard> logger)
{
    public const string TokenSetting = "APP_API_TOKEN";
    public const string PortSetting = "APP_PORT";
    public const string TokenHeader = "dapr-api-token";

    readonly byte[]? token = configuration[TokenSetting] is { Length: > 0 } value ? Encoding.UTF8.GetBytes(value) : null;
    readonly int? appPort = int.TryParse(configuration[PortSetting], out var port) && port is > 0 and < 65536 ? port : null;

    /// <summary>Throws the answer for a call the sidecar did not make.</summary>
    public void Check(ServerCallContext context)
    {
        var http = context.GetHttpContext();
        var sidecarPort = appPort ?? endpoints.GrpcUri.Port;
        if (http.Connection.LocalPort != sidecarPort)
            throw Refused(context, StatusCode.PermissionDenied, $"not the listener the sidecar calls (port {sidecarPort})");
        if (token is null)
        {
            if (http.Connection.RemoteIpAddress is { } remote && IPAddress.IsLoopback(remote))
                return;
            throw Refused(context, StatusCode.Unauthenticated, $"not from loopback, and {TokenSetting} is not set");
        }
        var given = Encoding.UTF8.GetBytes(context.RequestHeaders.GetValue(TokenHeader) ?? "");
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(given), SHA256.HashData(token)))
            throw Refused(context, StatusCode.Unauthenticated, $"no or wrong {TokenHeader}");
    }

    RpcException Refused(ServerCallContext context, StatusCode status, string reason)
    {
        Log.EventRouteRefused(logger, context.Method, context.GetHttpContext().Connection.RemoteIpAddress?.ToString(), reason);
        return new RpcException(new Status(status, $"only the Dapr sidecar calls {context.Method}: {reason}"));
    }
}
