using BuildGrid.Core.Errors;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Options;

namespace BuildGrid.Core.Identity;

/// <summary>The gRPC methods (full names) that callers without credentials may call; each checks what they may see.</summary>
public sealed class AnonymousAccessOptions
{
    public HashSet<string> Methods { get; } = new(StringComparer.Ordinal)
    {
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    };
}

/// <summary>
/// Resolves the principal of every gRPC call — domain calls and transcoded REST calls alike — before the method runs:
/// a signed <c>x-buildgrid-identity</c> from another BuildGrid process (bound to this very method), else the caller's <c>authorization</c>
/// (Basic or Bearer, checked by <see cref="ICredentialValidator"/>), else nobody: the admin in protected mode, an
/// anonymous caller otherwise, who may call only the methods of <see cref="AnonymousAccessOptions"/>. Wrong
/// credentials are refused even in protected mode.
/// </summary>
public sealed class PrincipalInterceptor(IdentitySettings settings, ServiceTokens tokens, ICredentialValidator validator,
    IOptions<AnonymousAccessOptions> anonymous) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        await ResolveAsync(context);
        return await continuation(request, context);
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        await ResolveAsync(context);
        await continuation(request, responseStream, context);
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        await ResolveAsync(context);
        return await continuation(requestStream, context);
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        await ResolveAsync(context);
        await continuation(requestStream, responseStream, context);
    }

    async ValueTask ResolveAsync(ServerCallContext context)
    {
        if (context.UserState.ContainsKey(CallIdentity.Key))
            return;
        Principal principal;
        string? clientAddress = null;
        if (context.RequestHeaders.GetValue(ServiceTokens.Header) is { } token)
        {
            var identity = await tokens.VerifyAsync(token, context.Method)
                ?? throw Access.Unauthenticated("The call's internal identity token is invalid, expired or meant for another call " +
                    $"(every process of one installation needs the same {IdentitySettings.ServiceKeySetting}).");
            (principal, clientAddress) = (identity.Principal, identity.ClientAddress);
        }
        else if (context.RequestHeaders.GetValue("authorization") is { Length: > 0 } authorization)
            principal = await ValidateAsync(authorization, context)
                ?? throw Access.Unauthenticated("The credentials are wrong, expired or revoked.");
        else
            principal = settings.ProtectedMode ? Principal.Local : Principal.Anonymous;
        if (principal.Kind == PrincipalKind.Anonymous && !anonymous.Value.Methods.Contains(context.Method))
            throw Access.Unauthenticated("This call needs credentials: Authorization: Basic (user and password) or Bearer (an API token).");
        context.UserState[CallIdentity.Key] = new CallIdentity(principal, clientAddress);
    }

    /// <summary>
    /// Checks the call's own credentials, counting failures against the connection's address. A refusal for too many
    /// failures or password checks (RESOURCE_EXHAUSTED) tells a REST client when to come back in <c>Retry-After</c>.
    /// </summary>
    async ValueTask<Principal?> ValidateAsync(string authorization, ServerCallContext context)
    {
        var http = context is BuildGrid.InProcess.InProcessServerCallContext ? null : context.GetHttpContext();
        try
        {
            return await validator.ValidateAsync(authorization, Clients.Caller.ClientAddressOf(context), context.CancellationToken);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted && http is { Response.HasStarted: false })
        {
            if (Access.RetryAfterSeconds(e) is { } seconds)
                http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            throw;
        }
    }
}

/// <summary>
/// The principal of a call and, when another BuildGrid process made it on a client's behalf, the client's address as
/// that process signed it.
/// </summary>
internal sealed record CallIdentity(Principal Principal, string? ClientAddress)
{
    public static readonly object Key = typeof(CallIdentity);
}
