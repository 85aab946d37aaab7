using BuildGrid.Core.Identity;
using BuildGrid.InProcess;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.ClientFactory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace BuildGrid.Core.Clients;

public static class ClientExtensions
{
    /// <summary>
    /// A typed gRPC client of another BuildGrid service, addressed by <see cref="ServiceAddresses"/>, signing the identity
    /// of each call (<see cref="ServiceIdentityInterceptor"/>), carrying on the caller of the server call it is made for
    /// (<see cref="Caller.Carry"/>) and carrying <c>dapr-app-id</c> when it goes through a sidecar. When the service is hosted in this process the client calls
    /// it in-process (<see cref="BuildGrid.InProcess.InProcessCallInvoker"/>), through the same server interceptors.
    /// </summary>
    public static IHttpClientBuilder AddBuildGridClient<TClient>(this IServiceCollection services, string appId)
        where TClient : ClientBase
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<InProcessServices>();
        // The calls a client makes while serving another carry that caller on: the server side records it.
        services.TryAddSingleton<CallerInterceptor>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<Grpc.AspNetCore.Server.GrpcServiceOptions>, CallerInterceptor.Registration>());
        return services.AddGrpcClient<TClient>((sp, options) =>
            {
                var route = sp.GetRequiredService<ServiceAddresses>().RouteOf(appId);
                var tokens = sp.GetRequiredService<ServiceTokens>();
                options.Address = route.Address;
                options.InterceptorRegistrations.Add(new InterceptorRegistration(
                    InterceptorScope.Client, _ => new ServiceIdentityInterceptor(tokens, route.DaprAppId)));
                if (route.InProcess)
                {
                    var inProcess = sp.GetRequiredService<InProcessServices>();
                    var authority = route.Address.Authority;
                    // In-process calls skip the channel's interceptors: they sign their identity the same way.
                    options.Creator = loopback => ClientOf<TClient>.Create(sp,
                        [new InProcessCallInvoker(inProcess, authority, loopback).Intercept(new ServiceIdentityInterceptor(tokens))]);
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
}
