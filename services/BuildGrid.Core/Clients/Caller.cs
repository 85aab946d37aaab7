using System.Runtime.CompilerServices;
using BuildGrid.Core.Identity;
using Grpc.Core;

namespace BuildGrid.Core.Clients;

/// <summary>
/// What a call made on behalf of another carries on: the caller's identity (signed for each outgoing call by
/// <see cref="ServiceIdentityInterceptor"/>, see <see cref="ServiceTokens"/>), the request id and the trace context.
/// The server call being served is recorded (<see cref="CallerInterceptor"/>), and every BuildGrid client made by
/// <see cref="ClientExtensions.AddBuildGridClient{TClient}"/> carries it on by itself: a call without headers of its own
/// acts for <see cref="Current"/> (<see cref="Carry"/>), so a service writes <c>await client.XAsync(request)</c>.
/// </summary>
public static class Caller
{
    public const string RequestIdHeader = "x-request-id";

    /// <summary>How long a call to another service may take: transcoded REST calls carry no deadline of their own.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The deadline of a call made now: <see cref="CallTimeout"/> from the system clock, which gRPC measures deadlines
    /// on (not a <see cref="TimeProvider"/>: a test's clock would make them past or endless).
    /// </summary>
    public static DateTime Deadline() => DateTime.UtcNow.Add(CallTimeout);

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

    static readonly AsyncLocal<ServerCallContext?> current = new();

    /// <summary>
    /// The server call this code runs for (set by <see cref="CallerInterceptor"/> around each service method), or null
    /// outside one: a background service, a console page, the log follow.
    /// </summary>
    public static ServerCallContext? Current => current.Value;

    /// <summary>Records <paramref name="context"/> as <see cref="Current"/> for the rest of the calling async flow.</summary>
    internal static void Enter(ServerCallContext context) => current.Value = context;

    /// <summary>
    /// The options of an outgoing call made while serving <see cref="Current"/>: a call without headers of its own gets the
    /// caller's (<see cref="Forward"/>), a unary call without a deadline <see cref="CallTimeout"/> from now (a streaming one
    /// the caller's deadline, if any: a followed log may run for long), and a call without a cancellation token the
    /// caller's. A call that brings headers (the console's credential, a credential check acting for itself) is left alone.
    /// </summary>
    public static CallOptions Carry(CallOptions options, MethodType type)
    {
        if (options.Headers is not null || Current is not { } context)
            return options;
        options = options.WithHeaders(Forward(context));
        if (options.Deadline is null)
        {
            if (type == MethodType.Unary)
                options = options.WithDeadline(Deadline());
            else if (context.Deadline < DateTime.MaxValue)
                options = options.WithDeadline(context.Deadline);
        }
        if (!options.CancellationToken.CanBeCanceled)
            options = options.WithCancellationToken(context.CancellationToken);
        return options;
    }
}
