using System.Reflection;
using BuildGrid.Core.Errors;
using Google.Protobuf;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace BuildGrid.Core.Hosting;

/// <summary>
/// Binds every gRPC service as grpc-dotnet's own binder does (the generated <c>BindService</c>, an invoker per method,
/// the type's and method's attributes as endpoint metadata), with each request marshaller wrapped: a request message
/// that does not parse is the caller's mistake, InvalidArgument. grpc-dotnet reads the message before any interceptor
/// runs and answers it with Unknown ("Exception was thrown by handler.") and an error in the log.
/// </summary>
internal sealed class ReadableRequestMethodProvider<TService> : IServiceMethodProvider<TService> where TService : class
{
    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<TService> context)
    {
        for (var type = typeof(TService); type is not null; type = type.BaseType)
        {
            if (type.GetCustomAttribute<BindServiceMethodAttribute>(inherit: false) is not { } attribute)
                continue;
            var bind = attribute.BindType.GetMethods(BindingFlags.Public | BindingFlags.Static).FirstOrDefault(m =>
                m.Name == attribute.BindMethodName && m.GetParameters() is [var binder, var service]
                && binder.ParameterType == typeof(ServiceBinderBase) && service.ParameterType == type);
            if (bind is null)
                continue;
            bind.Invoke(null, [new Binder(context), null]);
            return;
        }
    }

    sealed class Binder(ServiceMethodProviderContext<TService> context) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Model<UnaryServerMethod<TService, TRequest, TResponse>>(method.Name, typeof(TRequest), typeof(ServerCallContext));
            context.AddUnaryMethod(Guarded(method), metadata, invoker);
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Model<ServerStreamingServerMethod<TService, TRequest, TResponse>>(method.Name,
                typeof(TRequest), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext));
            context.AddServerStreamingMethod(Guarded(method), metadata, invoker);
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Model<ClientStreamingServerMethod<TService, TRequest, TResponse>>(method.Name,
                typeof(IAsyncStreamReader<TRequest>), typeof(ServerCallContext));
            context.AddClientStreamingMethod(Guarded(method), metadata, invoker);
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Model<DuplexStreamingServerMethod<TService, TRequest, TResponse>>(method.Name,
                typeof(IAsyncStreamReader<TRequest>), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext));
            context.AddDuplexStreamingMethod(Guarded(method), metadata, invoker);
        }

        /// <summary>The open-instance delegate of <typeparamref name="TService"/>'s method, and its endpoint metadata.</summary>
        static (TDelegate Invoker, List<object> Metadata) Model<TDelegate>(string name, params Type[] parameters) where TDelegate : Delegate
        {
            // The public instance method with this signature: the service's override, or the base's (which answers Unimplemented).
            var handler = typeof(TService).GetMethod(name, BindingFlags.Public | BindingFlags.Instance, parameters)
                ?? throw new InvalidOperationException($"Could not find '{name}' on {typeof(TService)}.");
            var metadata = new List<object>();
            metadata.AddRange(typeof(TService).GetCustomAttributes(inherit: true));
            metadata.AddRange(handler.GetCustomAttributes(inherit: true));
            metadata.Add(new HttpMethodMetadata(["POST"], acceptCorsPreflight: true));
            return ((TDelegate)Delegate.CreateDelegate(typeof(TDelegate), handler), metadata);
        }

        static Method<TRequest, TResponse> Guarded<TRequest, TResponse>(Method<TRequest, TResponse> method)
            where TRequest : class where TResponse : class
        {
            var deserialize = method.RequestMarshaller.ContextualDeserializer;
            var marshaller = new Marshaller<TRequest>(method.RequestMarshaller.ContextualSerializer, context =>
            {
                try
                {
                    return deserialize(context);
                }
                catch (InvalidProtocolBufferException e)
                {
                    throw Errors.Errors.Create(Google.Rpc.Code.InvalidArgument, Reasons.InvalidArgument,
                        $"the request is not a valid {method.FullName} message: {e.Message}");
                }
            });
            return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, marshaller, method.ResponseMarshaller);
        }
    }
}

public static class ReadableRequestBinder
{
    /// <summary>
    /// Binds gRPC services with <see cref="ReadableRequestMethodProvider{TService}"/> instead of grpc-dotnet's binder.
    /// Call it after every <c>AddGrpc()</c>: <c>AddGrpc</c> registers its binder again when it is missing.
    /// </summary>
    public static IServiceCollection AddReadableRequestBinder(this IServiceCollection services)
    {
        var defaultBinder = services.Where(d => d.ServiceType == typeof(IServiceMethodProvider<>)
            && d.ImplementationType is { IsGenericTypeDefinition: true } type
            && type.Assembly == typeof(IServiceMethodProvider<>).Assembly && type.Name.StartsWith("BinderServiceMethodProvider", StringComparison.Ordinal)).ToList();
        foreach (var descriptor in defaultBinder)
            services.Remove(descriptor);
        services.TryAddEnumerable(ServiceDescriptor.Singleton(typeof(IServiceMethodProvider<>), typeof(ReadableRequestMethodProvider<>)));
        return services;
    }
}
