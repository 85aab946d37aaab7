using Grpc.Net.ClientFactory;
using Microsoft.Extensions.DependencyInjection;

namespace BuildGrid.Client;

/// <summary>Registers BuildGrid's typed gRPC clients with <c>Grpc.Net.ClientFactory</c>.</summary>
public static class BuildGridClientsExtensions
{
    /// <summary>
    /// Registers every BuildGrid client — <see cref="Projects.V1.Projects.ProjectsClient"/>, <see cref="Builds.V1.BuildRuns.BuildRunsClient"/>,
    /// <see cref="Builds.V1.BuildDefinitions.BuildDefinitionsClient"/>, <see cref="Containers.V1.Containers.ContainersClient"/>,
    /// <see cref="Identity.V1.Identity.IdentityClient"/> and <see cref="Registry.V1.Registry.RegistryClient"/> — as typed
    /// clients on one address, with the options' credentials, the retry policy of <see cref="ClientRetry"/> and the
    /// default deadlines. Inject the clients where they are used; they share the factory's HTTP/2 connections.
    /// </summary>
    /// <exception cref="ArgumentException">The options lack an address or hold impossible values.</exception>
    public static IServiceCollection AddBuildGridClients(this IServiceCollection services, Action<BuildGridClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new BuildGridClientOptions();
        configure(options);
        options.Validate();
        var serviceConfig = ClientRetry.ServiceConfig(options);
        var deadlines = new DefaultDeadlineInterceptor(options.Deadline, options.StreamingDeadline);

        void Register<TClient>() where TClient : class
        {
            var client = services.AddGrpcClient<TClient>(o => o.Address = options.Address)
                .ConfigureChannel(channel =>
                {
                    channel.ServiceConfig = serviceConfig;
                    // gRPC sends call credentials only over TLS unless told otherwise; an http:// address is the
                    // caller's explicit choice of h2c, so credentials go over it as well.
                    channel.UnsafeUseInsecureChannelCallCredentials = options.Address!.Scheme == Uri.UriSchemeHttp;
                })
                .AddInterceptor(() => deadlines);
            if (options.Authorization is { } authorization)
                client.AddCallCredentials(async (context, metadata) =>
                {
                    if (await authorization(context.CancellationToken) is { } value)
                        metadata.Add("authorization", value);
                });
        }

        Register<Projects.V1.Projects.ProjectsClient>();
        Register<Builds.V1.BuildRuns.BuildRunsClient>();
        Register<Builds.V1.BuildDefinitions.BuildDefinitionsClient>();
        Register<Containers.V1.Containers.ContainersClient>();
        Register<Identity.V1.Identity.IdentityClient>();
        Register<Registry.V1.Registry.RegistryClient>();
        return services;
    }
}
