using System.Runtime.CompilerServices;
using BuildGrid.Core.Identity;
using Grpc.Core;

namespace BuildGrid.Core.Clients;

/// <summary>
/// What a call made on behalf of another carries on: the caller's identity (signed for each outgoing call by
/// <see cref="ServiceIdentityInterceptor"/>, see <see cref="ServiceTokens"/>), the request id and the trace context.
/// </summary>
public static class Caller
{
    public const string RequestIdHeader = "x-request-id";

    /// <summary>How long a call to another service may take: transcoded REST calls carry no deadline of their own.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    static readonly string[] Forwarded = [RequestIdHeader, "traceparent", "tracestate"];

    /// <summary>
    /// Who outgoing metadata speaks for. Nothing of it is on the wire until a client signs a token for the one call it
    /// makes (audience, method, client address); metadata nobody registered carries no identity.
    /// </summary>
    static readonly ConditionalWeakTable<Metadata, ServiceIdentity> OnBehalf = new();

    /// <summary>The metadata of an incoming call (or REST request) that an outgoing call should carry on.</summary>
    public static Metadata Forward(ServerCallContext context)
    {
        var metadata = new Metadata();
        foreach (var entry in context.RequestHeaders)
        {
            if (!entry.IsBinary && Array.IndexOf(Forwarded, entry.Key) >= 0)
                metadata.Add(entry.Key, entry.Value);
        }
        if (metadata.GetValue(RequestIdHeader) is null && RequestIdOf(context) is { } requestId)
            metadata.Add(RequestIdHeader, requestId);
        if (Access.IdentityOf(context) is { } identity)
            OnBehalfOf(metadata, identity.Principal, ClientAddressOf(context));
        return metadata;
    }

    /// <summary>Makes calls with <paramref name="metadata"/> act for <paramref name="principal"/> (signed per call by the client).</summary>
    public static Metadata OnBehalfOf(Metadata metadata, Principal principal, string? clientAddress)
    {
        OnBehalf.AddOrUpdate(metadata, new ServiceIdentity(principal, clientAddress));
        return metadata;
    }

    /// <summary>The identity registered for <paramref name="metadata"/> by <see cref="OnBehalfOf"/>, if any.</summary>
    internal static ServiceIdentity? IdentityFor(Metadata? metadata) =>
        metadata is not null && OnBehalf.TryGetValue(metadata, out var identity) ? identity : null;

    /// <summary>
    /// The address of the client behind this call: what the calling BuildGrid process signed into the call's identity
    /// token, else the connection's remote address.
    /// </summary>
    public static string? ClientAddressOf(ServerCallContext context) =>
        Access.IdentityOf(context)?.ClientAddress ?? HttpContextOf(context)?.Connection.RemoteIpAddress?.ToString();

    /// <summary>The HTTP request behind a call; null for an in-process call, which has none (GetHttpContext throws there).</summary>
    static Microsoft.AspNetCore.Http.HttpContext? HttpContextOf(ServerCallContext context) =>
        context is BuildGrid.InProcess.InProcessServerCallContext ? null : context.GetHttpContext();

    /// <summary>The caller's <c>x-request-id</c>, else this request's own id (which calls made on its behalf carry on).</summary>
    public static string? RequestIdOf(ServerCallContext context) =>
        context.RequestHeaders.GetValue(RequestIdHeader) is { Length: > 0 and <= 128 } id ? id : HttpContextOf(context)?.TraceIdentifier;

    /// <summary>Options of an outgoing call made on behalf of <paramref name="context"/>: its identity, a deadline, its cancellation.</summary>
    public static CallOptions Options(ServerCallContext context) =>
        new(Forward(context), DateTime.UtcNow.Add(CallTimeout), context.CancellationToken);
}
