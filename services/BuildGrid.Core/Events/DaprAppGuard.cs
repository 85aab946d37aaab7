using System.Net;
using System.Security.Cryptography;
using System.Text;
using BuildGrid.Core.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace BuildGrid.Core.Events;

/// <summary>
/// Who may deliver to the Dapr topic routes (<c>POST /events/&lt;topic&gt;</c>): the sidecar, and nobody else.
/// <list type="bullet">
/// <item>Only on the listener the sidecar is configured to call: the port in <c>APP_PORT</c> (which <c>dapr run</c>
/// sets, and the Kubernetes manifests set to the annotation's app port), else the REST listener. The other listener
/// answers 404, as for any unknown path.</item>
/// <item>With <c>APP_API_TOKEN</c> set (Dapr's app API token: daprd sends it in the <c>dapr-api-token</c> header of
/// every request to the app), a request must carry exactly that token; otherwise 401.</item>
/// <item>Without a token, only a loopback peer is taken — the sidecar runs beside the app (same pod, same host).</item>
/// </list>
/// A refused delivery is logged; it never reaches a handler.
/// </summary>
public sealed class DaprAppGuard(IConfiguration configuration, BuildGridEndpoints endpoints, ILogger<DaprAppGuard> logger)
{
    public const string TokenSetting = "APP_API_TOKEN";
    public const string PortSetting = "APP_PORT";
    public const string TokenHeader = "dapr-api-token";

    readonly byte[]? token = configuration[TokenSetting] is { Length: > 0 } value ? Encoding.UTF8.GetBytes(value) : null;
    readonly int? appPort = int.TryParse(configuration[PortSetting], out var port) && port is > 0 and < 65536 ? port : null;

    /// <summary>The answer for a request the sidecar did not make, or null to serve it.</summary>
    public IResult? Refuse(HttpContext context)
    {
        var sidecarPort = appPort ?? endpoints.RestUri.Port;
        if (context.Connection.LocalPort != sidecarPort)
            return Refused(context, StatusCodes.Status404NotFound, $"not the listener the sidecar calls (port {sidecarPort})");
        if (token is null)
            return context.Connection.RemoteIpAddress is { } remote && IPAddress.IsLoopback(remote)
                ? null
                : Refused(context, StatusCodes.Status401Unauthorized, $"not from loopback, and {TokenSetting} is not set");
        var given = Encoding.UTF8.GetBytes(context.Request.Headers[TokenHeader].ToString());
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(given), SHA256.HashData(token))
            ? null
            : Refused(context, StatusCodes.Status401Unauthorized, $"no or wrong {TokenHeader}");
    }

    IResult Refused(HttpContext context, int status, string reason)
    {
        Log.EventRouteRefused(logger, context.Request.Path, context.Connection.RemoteIpAddress?.ToString(), reason);
        return Results.StatusCode(status);
    }
}
