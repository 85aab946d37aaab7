using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.ClientFactory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace BuildGrid.Core.Clients;

public static class ClientExtensions
{
    /// <summary>
    /// A typed gRPC client of another BuildGrid service, addressed by <see cref="ServiceAddresses"/> and carrying
    /// <c>dapr-app-id</c> when it goes through a sidecar. When the service is hosted in this process the client calls
    /// it in-process (<see cref="InProcessCallInvoker"/>), through the same server interceptors.
    /// </summary>
    public static IHttpClientBuilder AddBuildGridClient<TClient>(this IServiceCollection services, string appId)
        where TClient : ClientBase
    {
        services.TryAddSingleton<InProcessServices>();
        return services.AddGrpcClient<TClient>((sp, options) =>
            {
                var route = sp.GetRequiredService<ServiceAddresses>().RouteOf(appId);
                options.Address = route.Address;
                if (route.DaprAppId is { } daprAppId)
                    options.InterceptorRegistrations.Add(new InterceptorRegistration(
                        InterceptorScope.Client, _ => new DaprAppIdInterceptor(daprAppId)));
                if (route.InProcess)
                {
                    var inProcess = sp.GetRequiredService<InProcessServices>();
                    var authority = route.Address.Authority;
                    options.Creator = loopback => ClientOf<TClient>.Create(sp, [new InProcessCallInvoker(inProcess, authority, loopback)]);
                }
            })
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = true,
                PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                KeepAlivePingDelay = TimeSpan.FromSeconds(60),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
            });
    }

    static class ClientOf<TClient>
    {
        public static readonly ObjectFactory Create = ActivatorUtilities.CreateFactory(typeof(TClient), [typeof(CallInvoker)]);
    }

    sealed class DaprAppIdInterceptor(string appId) : Interceptor
    {
        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request,
            ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation) =>
            continuation(request, WithAppId(context));

        public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(TRequest request,
            ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation) =>
            continuation(request, WithAppId(context));

        ClientInterceptorContext<TRequest, TResponse> WithAppId<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context)
            where TRequest : class where TResponse : class
        {
            // A copy: callers reuse their Metadata across calls, and a second app id would make daprd refuse the call.
            var headers = new Metadata();
            foreach (var entry in context.Options.Headers ?? [])
            {
                if (entry.Key != "dapr-app-id")
                    headers.Add(entry);
            }
            headers.Add("dapr-app-id", appId);
            return new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, context.Options.WithHeaders(headers));
        }
    }
}
