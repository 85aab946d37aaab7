using BuildGrid.Core.Events;
using BuildGrid.Core.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BuildGrid.Core.Storage;

public static class StorageExtensions
{
    /// <summary>
    /// Registers a service's database under <paramref name="name"/> (a keyed singleton), migrates it at start, and runs
    /// its outbox relay; <c>/readyz</c> checks that it answers.
    /// </summary>
    public static IServiceCollection AddServiceDatabase(this IServiceCollection services, string name, System.Reflection.Assembly migrations)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddKeyedSingleton(name, (sp, _) => new ServiceDatabase(name, migrations,
            sp.GetRequiredService<BuildGridSettings>(), sp.GetRequiredService<DiskSpace>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton<IHostedService>(sp => new DatabaseStartup(sp.GetRequiredKeyedService<ServiceDatabase>(name)));
        services.AddDatabaseCheck(name);
        services.AddSingleton(new Hosting.ServiceDatabaseName(name));
        services.AddSingleton<IHostedService>(sp => new OutboxRelay(sp.GetRequiredKeyedService<ServiceDatabase>(name), $"/buildgrid/{name}",
            sp.GetRequiredService<IEventPublisher>(), sp.GetRequiredService<OutboxSignal>(), sp.GetRequiredService<ILogger<OutboxRelay>>(),
            sp.GetService<TimeProvider>()));
        return services;
    }

    sealed class DatabaseStartup(ServiceDatabase database) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            await database.EnsureMigratedAsync();
            database.Disk.EnsureReserve();
        }
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
