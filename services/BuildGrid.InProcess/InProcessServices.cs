using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Diagnostics;
using System.Reflection;
using System.Threading.Channels;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Google.Protobuf;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BuildGrid.InProcess;

/// <summary>
/// The gRPC methods this process hosts (the endpoints mapped with <c>MapGrpcService</c>), callable without a socket:
/// what <see cref="InProcessCallInvoker"/> dispatches to when a typed client's service lives in the same process.
/// A call runs as grpc-dotnet runs it behind Kestrel — a DI scope per call, the service created by its
/// <see cref="IGrpcServiceActivator{TService}"/>, the server interceptors of <c>AddGrpc</c> (global, then the
/// service's), an <c>RpcException</c> turned into the call's status and trailers, any other exception into
/// <c>Unknown</c> — with the request and the responses deep-copied (protobuf <c>Clone</c>), never shared.
/// Unary and server-streaming methods only; the invoker sends the others over the loopback channel.
/// </summary>
public sealed class InProcessServices(EndpointDataSource endpoints, IServiceProvider services, IServiceScopeFactory scopes,
    IOptions<GrpcServiceOptions> grpcOptions, ILogger<InProcessServices> logger, TimeProvider? timeProvider = null)
{
    /// <summary>The source of the server span of every in-process call (a call over a socket gets ASP.NET Core's).</summary>
    public static readonly ActivitySource Source = new("BuildGrid.InProcess");

    FrozenDictionary<string, Type>? hosted;
    readonly ConcurrentDictionary<string, object?> handlers = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<Type, IGrpcInterceptorActivator> interceptorActivators = new();

    /// <summary>The handler of <paramref name="method"/> when this process hosts it and can run it in-process.</summary>
    internal MethodHandler<TRequest, TResponse>? Find<TRequest, TResponse>(Method<TRequest, TResponse> method)
        where TRequest : class where TResponse : class =>
        (handlers.TryGetValue(method.FullName, out var handler) ? handler : handlers.GetOrAdd(method.FullName, _ => Create(method)))
            as MethodHandler<TRequest, TResponse>;

    object? Create<TRequest, TResponse>(Method<TRequest, TResponse> method) where TRequest : class where TResponse : class
    {
        // Protobuf messages copy themselves (a deep copy); other message types go over the wire.
        if (method.Type is not (MethodType.Unary or MethodType.ServerStreaming)
            || !typeof(IDeepCloneable<TRequest>).IsAssignableFrom(typeof(TRequest))
            || !typeof(IDeepCloneable<TResponse>).IsAssignableFrom(typeof(TResponse)))
            return null;
        hosted ??= HostedMethods();
        if (!hosted.TryGetValue(method.FullName, out var serviceType))
            return null;
        var type = typeof(MethodHandler<,,>).MakeGenericType(serviceType, typeof(TRequest), typeof(TResponse));
        var optionsType = typeof(IOptions<>).MakeGenericType(typeof(GrpcServiceOptions<>).MakeGenericType(serviceType));
        var serviceOptions = (GrpcServiceOptions)optionsType.GetProperty("Value")!.GetValue(services.GetRequiredService(optionsType))!;
        // grpc-dotnet's order: the global interceptors run first (outermost), then the service's own.
        InterceptorRegistration[] interceptors = [.. grpcOptions.Value.Interceptors, .. serviceOptions.Interceptors];
        var detailedErrors = serviceOptions.EnableDetailedErrors ?? grpcOptions.Value.EnableDetailedErrors ?? false;
        return Activator.CreateInstance(type, this, method, interceptors, detailedErrors);
    }

    FrozenDictionary<string, Type> HostedMethods()
    {
        var methods = new Dictionary<string, Type>(StringComparer.Ordinal);
        foreach (var endpoint in endpoints.Endpoints)
        {
            if (endpoint.Metadata.GetMetadata<GrpcMethodMetadata>() is { } grpc)
                methods.TryAdd(grpc.Method.FullName, grpc.ServiceType);
        }
        return methods.ToFrozenDictionary(StringComparer.Ordinal);
    }

    internal IServiceScopeFactory Scopes => scopes;
    internal TimeProvider Time { get; } = timeProvider ?? TimeProvider.System;
    internal ILogger Logger => logger;

    internal IGrpcInterceptorActivator InterceptorActivator(Type type) =>
        interceptorActivators.GetOrAdd(type, t => (IGrpcInterceptorActivator)services.GetRequiredService(
            typeof(IGrpcInterceptorActivator<>).MakeGenericType(t)));
}

/// <summary>One hosted method, typed by its messages; <see cref="MethodHandler{TService,TRequest,TResponse}"/> knows the service.</summary>
internal abstract class MethodHandler<TRequest, TResponse>(InProcessServices host, Method<TRequest, TResponse> method,
    InterceptorRegistration[] interceptors, bool detailedErrors)
    where TRequest : class where TResponse : class
{
    protected Method<TRequest, TResponse> Method => method;
    protected InterceptorRegistration[] Interceptors => interceptors;
    protected InProcessServices Host => host;

    public static TRequest CopyRequest(TRequest request) => ((IDeepCloneable<TRequest>)request).Clone();
    public static TResponse CopyResponse(TResponse response) => ((IDeepCloneable<TResponse>)response).Clone();

    protected abstract Task<TResponse> InvokeUnaryAsync(int interceptor, TRequest request, ServerCallContext context, IServiceProvider services);
    protected abstract Task InvokeServerStreamingAsync(int interceptor, TRequest request, IServerStreamWriter<TResponse> responses,
        ServerCallContext context, IServiceProvider services);

    /// <summary>The server's side of a unary call: the response (a copy), or the status the call ends with.</summary>
    public async Task<TResponse> UnaryAsync(TRequest request, InProcessServerCallContext context)
    {
        using var activity = context.StartActivity();
        try
        {
            await using var scope = Host.Scopes.CreateAsyncScope();
            var response = await InvokeUnaryAsync(0, CopyRequest(request), context, scope.ServiceProvider)
                ?? throw new InvalidOperationException("No message returned from method.");
            context.EndWithStatus();
            return CopyResponse(response);
        }
        catch (Exception ex)
        {
            throw context.EndWithError(ex, detailedErrors, Host.Logger);
        }
        finally
        {
            context.Complete();
        }
    }

    /// <summary>The server's side of a server-streaming call: runs the method, writing into <paramref name="responses"/>.</summary>
    public async Task ServerStreamingAsync(TRequest request, InProcessServerCallContext context, ChannelWriter<TResponse> responses)
    {
        using var activity = context.StartActivity();
        try
        {
            await using var scope = Host.Scopes.CreateAsyncScope();
            await InvokeServerStreamingAsync(0, CopyRequest(request), new ResponseWriter(responses, context), context, scope.ServiceProvider);
            context.EndWithStatus();
            responses.TryComplete();
        }
        catch (Exception ex)
        {
            responses.TryComplete(context.EndWithError(ex, detailedErrors, Host.Logger));
        }
        finally
        {
            context.Complete();
        }
    }

    sealed class ResponseWriter(ChannelWriter<TResponse> responses,
        InProcessServerCallContext context) : IServerStreamWriter<TResponse>
    {
        public WriteOptions? WriteOptions { get; set; }

        public Task WriteAsync(TResponse message) => WriteAsync(message, CancellationToken.None);

        public async Task WriteAsync(TResponse message, CancellationToken cancellationToken)
        {
            context.SendResponseHeaders();
            var copy = CopyResponse(message);
            if (!cancellationToken.CanBeCanceled)
            {
                await responses.WriteAsync(copy, context.CancellationToken);
                return;
            }
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, context.CancellationToken);
            await responses.WriteAsync(copy, linked.Token);
        }
    }
}

internal sealed class MethodHandler<TService, TRequest, TResponse> : MethodHandler<TRequest, TResponse>
    where TService : class where TRequest : class where TResponse : class
{
    readonly Func<TService, TRequest, ServerCallContext, Task<TResponse>>? unary;
    readonly Func<TService, TRequest, IServerStreamWriter<TResponse>, ServerCallContext, Task>? serverStreaming;

    public MethodHandler(InProcessServices host, Method<TRequest, TResponse> method, InterceptorRegistration[] interceptors, bool detailedErrors)
        : base(host, method, interceptors, detailedErrors)
    {
        // As grpc-dotnet binds a service: the public instance method named like the gRPC method, as an open delegate.
        const BindingFlags Flags = BindingFlags.Public | BindingFlags.Instance;
        if (method.Type == MethodType.Unary)
            unary = typeof(TService).GetMethod(method.Name, Flags, [typeof(TRequest), typeof(ServerCallContext)])!
                .CreateDelegate<Func<TService, TRequest, ServerCallContext, Task<TResponse>>>();
        else
            serverStreaming = typeof(TService).GetMethod(method.Name, Flags, [typeof(TRequest), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext)])!
                .CreateDelegate<Func<TService, TRequest, IServerStreamWriter<TResponse>, ServerCallContext, Task>>();
    }

    protected override async Task<TResponse> InvokeUnaryAsync(int interceptor, TRequest request, ServerCallContext context, IServiceProvider services)
    {
        if (interceptor == Interceptors.Length)
        {
            var activator = services.GetRequiredService<IGrpcServiceActivator<TService>>();
            var service = activator.Create(services);
            try
            {
                return await unary!(service.Instance, request, context);
            }
            finally
            {
                await activator.ReleaseAsync(service);
            }
        }
        var registration = Interceptors[interceptor];
        var interceptors = Host.InterceptorActivator(registration.Type);
        var handle = interceptors.Create(services, registration);
        try
        {
            return await handle.Instance.UnaryServerHandler(request, context, (r, c) => InvokeUnaryAsync(interceptor + 1, r, c, services));
        }
        finally
        {
            await interceptors.ReleaseAsync(handle);
        }
    }

    protected override async Task InvokeServerStreamingAsync(int interceptor, TRequest request, IServerStreamWriter<TResponse> responses,
        ServerCallContext context, IServiceProvider services)
    {
        if (interceptor == Interceptors.Length)
        {
            var activator = services.GetRequiredService<IGrpcServiceActivator<TService>>();
            var service = activator.Create(services);
            try
            {
                await serverStreaming!(service.Instance, request, responses, context);
                return;
            }
            finally
            {
                await activator.ReleaseAsync(service);
            }
        }
        var registration = Interceptors[interceptor];
        var interceptors = Host.InterceptorActivator(registration.Type);
        var handle = interceptors.Create(services, registration);
        try
        {
            await handle.Instance.ServerStreamingServerHandler(request, responses, context,
                (r, w, c) => InvokeServerStreamingAsync(interceptor + 1, r, w, c, services));
        }
        finally
        {
            await interceptors.ReleaseAsync(handle);
        }
    }
}
