using BuildGrid.Core.Identity;
using Grpc.Core;

namespace BuildGrid.Core.Clients;

/// <summary>
/// What a call made on behalf of another carries on: the caller's identity, signed (<see cref="ServiceTokens"/>), the
/// request id and the trace context.
/// </summary>
public static class Caller
{
    public const string RequestIdHeader = "x-request-id";
    /// <summary>The address of the client a gateway call was made for; trusted only on calls that carry a signed identity.</summary>
    public const string ClientAddressHeader = "x-buildgrid-client-address";

    /// <summary>How long a call to another service may take: transcoded REST calls carry no deadline of their own.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    static readonly string[] Forwarded = [RequestIdHeader, "traceparent", "tracestate"];

    /// <summary>The metadata of an incoming call (or REST request) that an outgoing call should carry on.</summary>
    public static Metadata Forward(ServerCallContext context)
    {
        var metadata = new Metadata();
        foreach (var entry in context.RequestHeaders)
        {
            if (!entry.IsBinary && Array.IndexOf(Forwarded, entry.Key) >= 0)
                metadata.Add(entry.Key, entry.Value);
        }
        if (Access.TokenOf(context) is { } identity)
            metadata.Add(ServiceTokens.Header, identity);
        if (metadata.GetValue(RequestIdHeader) is null && RequestIdOf(context) is { } requestId)
            metadata.Add(RequestIdHeader, requestId);
        if (ClientAddressOf(context) is { } address)
            metadata.Add(ClientAddressHeader, address);
        return metadata;
    }

    /// <summary>
    /// The address of the client behind this call: what the calling BuildGrid process said, when the call carries a
    /// signed identity (the principal interceptor has checked it); else the connection's remote address.
    /// </summary>
    public static string? ClientAddressOf(ServerCallContext context) =>
        context.RequestHeaders.GetValue(ServiceTokens.Header) is not null && context.RequestHeaders.GetValue(ClientAddressHeader) is { Length: > 0 and <= 64 } forwarded
            ? forwarded
            : HttpContextOf(context)?.Connection.RemoteIpAddress?.ToString();

    /// <summary>The HTTP request behind a call; null for an in-process call, which has none (GetHttpContext throws there).</summary>
    static Microsoft.AspNetCore.Http.HttpContext? HttpContextOf(ServerCallContext context) =>
        context is InProcessServerCallContext ? null : context.GetHttpContext();

    /// <summary>The caller's <c>x-request-id</c>, else this request's own id (which calls made on its behalf carry on).</summary>
    public static string? RequestIdOf(ServerCallContext context) =>
        context.RequestHeaders.GetValue(RequestIdHeader) is { Length: > 0 and <= 128 } id ? id : HttpContextOf(context)?.TraceIdentifier;

    /// <summary>Options of an outgoing call made on behalf of <paramref name="context"/>: its identity, a deadline, its cancellation.</summary>
    public static CallOptions Options(ServerCallContext context) =>
        new(Forward(context), DateTime.UtcNow.Add(CallTimeout), context.CancellationToken);
}
