using Grpc.AspNetCore.Server;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Options;

namespace BuildGrid.Core.Clients;

/// <summary>
/// Records the server call each service method runs for as <see cref="Caller.Current"/>, so that the BuildGrid clients
/// it calls carry its identity, request id, deadline and cancellation on (<see cref="Caller.Carry"/>). An in-process call
/// runs the same interceptors, so it records its own context and the caller's is back when it returns (an async
/// local changed inside an awaited method does not leak out of it).
/// </summary>
public sealed class CallerInterceptor : Interceptor
{
    // Async methods, so that the recorded call ends with the method: a change made by a synchronous one would stay in
    // the flow of whoever called it.
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Caller.Enter(context);
        return await continuation(request, context);
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Caller.Enter(context);
        await continuation(request, responseStream, context);
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Caller.Enter(context);
        return await continuation(requestStream, context);
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Caller.Enter(context);
        await continuation(requestStream, responseStream, context);
    }

    /// <summary>Adds the interceptor to every gRPC service of the process, innermost (just around the method).</summary>
    internal sealed class Registration : IPostConfigureOptions<GrpcServiceOptions>
    {
        public void PostConfigure(string? name, GrpcServiceOptions options)
        {
            if (!options.Interceptors.Any(i => i.Type == typeof(CallerInterceptor)))
                options.Interceptors.Add<CallerInterceptor>();
        }
    }
}
