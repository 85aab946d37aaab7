using BuildGrid.Core.Identity;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace BuildGrid.Core.Clients;

/// <summary>
/// The outgoing side of every BuildGrid client: a call made while serving another, without headers of its own, carries
/// that caller on (<see cref="Caller.Carry"/>: identity, request id, deadline, cancellation); for a call whose metadata acts on someone's behalf
/// (<see cref="Caller.OnBehalfOf"/>), signs an identity token for exactly that call — the target method, its service as
/// audience, the client address, a lifetime of seconds — and, through a Dapr sidecar, adds <c>dapr-app-id</c>. The
/// caller's metadata is copied, never changed: callers reuse it across calls.
/// </summary>
public sealed class ServiceIdentityInterceptor(ServiceTokens tokens, string? daprAppId = null) : Interceptor
{
    public override TResponse BlockingUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context,
        BlockingUnaryCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, Signed(context));

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request,
        ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, Signed(context));

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(TRequest request,
        ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, Signed(context));

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
        ClientInterceptorContext<TRequest, TResponse> context, AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation) =>
        continuation(Signed(context));

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
        ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation) =>
        continuation(Signed(context));

    ClientInterceptorContext<TRequest, TResponse> Signed<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context)
        where TRequest : class where TResponse : class
    {
        var carried = Caller.Carry(context.Options, context.Method.Type);
        if (!ReferenceEquals(carried.Headers, context.Options.Headers))
            context = new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, carried);
        var identity = Caller.IdentityFor(context.Options.Headers);
        if (identity is null && daprAppId is null)
            return context;
        var headers = new Metadata();
        foreach (var entry in context.Options.Headers ?? [])
        {
            // A second app id would make daprd refuse the call; an identity entry is this call's own, signed below.
            if (entry.Key != "dapr-app-id" && (identity is null || entry.Key != ServiceTokens.Header))
                headers.Add(entry);
        }
        if (identity is not null)
            headers.Add(ServiceTokens.Header, tokens.Sign(identity.Principal, context.Method.FullName, identity.ClientAddress));
        if (daprAppId is not null)
            headers.Add("dapr-app-id", daprAppId);
        return new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, context.Options.WithHeaders(headers));
    }
}
