using BuildGrid.Core.Hosting;
using Dapr.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace BuildGrid.Core.Events;

public static class EventsExtensions
{
    public const string PubSubName = "buildgrid-pubsub";

    internal static IServiceCollection AddBuildGridEvents(this IServiceCollection services, BuildGridSettings settings)
    {
        services.TryAddSingleton<OutboxSignal>();
        services.TryAddSingleton<Outbox>();
        services.TryAddSingleton(sp => new InProcessEventBus(sp.GetRequiredService<ILogger<InProcessEventBus>>()));
        if (settings.DaprEnabled)
        {
            services.AddDaprClient();
            services.TryAddSingleton<IEventPublisher>(sp => new DaprEventPublisher(sp.GetRequiredService<DaprClient>(), PubSubName));
        }
        else
        {
            services.TryAddSingleton<IEventPublisher>(sp => sp.GetRequiredService<InProcessEventBus>());
        }
        return services;
    }

}
