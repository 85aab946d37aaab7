using BuildGrid.Core.Hosting;
using Dapr.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace BuildGrid.Core.Events;

public static class EventsExtensions
{
    public const string PubSubName = "buildgrid-pubsub";

    internal static IServiceCollection AddBuildGridEvents(this IServiceCollection services, BuildGridSettings settings,
        IConfiguration configuration, string applicationName)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<OutboxSignal>();
        services.TryAddSingleton<Outbox>();
        services.TryAddSingleton(sp => new InProcessEventBus(sp.GetRequiredService<ILogger<InProcessEventBus>>()));
        if (settings.DaprEnabled)
        {
            services.AddDaprClient();
            services.TryAddSingleton<DaprSubscriptionTable>();
            services.TryAddSingleton<DaprAppGuard>();
            services.TryAddSingleton<IEventPublisher>(sp => new DaprEventPublisher(sp.GetRequiredService<DaprClient>(), PubSubName));
        }
        else if (RedisEventBus.AppIdOf(configuration, settings, applicationName) is { } appId)
        {
            // Services in separate processes without a sidecar: events cross processes through the shared Redis.
            services.TryAddSingleton(_ => new RedisConnection(() => settings.Redis!));
            services.TryAddSingleton(sp => new RedisEventBus(sp.GetRequiredService<RedisConnection>(), appId,
                sp.GetRequiredService<InProcessEventBus>(), sp.GetRequiredService<SignedMessages>(), sp.GetRequiredService<ILogger<RedisEventBus>>(),
                sp.GetRequiredService<TimeProvider>()));
            services.TryAddSingleton<IEventPublisher>(sp => sp.GetRequiredService<RedisEventBus>());
            services.AddHostedService(sp => sp.GetRequiredService<RedisEventBus>());
        }
        else
        {
            services.TryAddSingleton<IEventPublisher>(sp => sp.GetRequiredService<InProcessEventBus>());
        }
        return services;
    }
}
