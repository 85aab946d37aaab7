using BuildGrid.Core.Identity;
using BuildGrid.Core.Networking;
using BuildGrid.Core.Storage;
using BuildGrid.Registry.Distribution;
using BuildGrid.Registry.Domain;
using BuildGrid.Registry.Gc;
using BuildGrid.Registry.Grpc;
using BuildGrid.Registry.Notifications;
using BuildGrid.Registry.Proxy;
using BuildGrid.Registry.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace BuildGrid.Registry;

public static class RegistryExtensions
{
    public const string AppId = Core.Clients.ServiceAddresses.Registry;

    /// <summary>The Registry's reads anyone may call: each shows an anonymous caller only public repositories and namespaces.</summary>
    static readonly string[] AnonymousReads = ["ListNamespaces", "GetNamespace", "ListRepositories", "GetRepository", "ListTags", "GetManifest"];

    sealed class Marker;

    /// <summary>The Registry service: its database (registry.db), blob storage, the collector and its schedule.</summary>
    public static WebApplicationBuilder AddRegistry(this WebApplicationBuilder builder)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(Marker)))
            return builder;
        builder.Services.AddSingleton<Marker>();
        builder.Services.AddOptions<RegistryOptions>().BindConfiguration(RegistryOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<RegistryOptions>, RegistryOptionsValidator>();
        builder.Services.AddServiceDatabase(AppId, typeof(RegistryExtensions).Assembly);
        builder.Services.AddSingleton<RegistryStore>();
        builder.Services.AddSingleton<BlobStore>();
        builder.Services.AddSingleton<UploadHashes>();
        builder.Services.AddSingleton<DistributionApi>();
        builder.Services.AddOptions<ProxyOptions>().BindConfiguration(ProxyOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ProxyOptions>, ProxyOptionsValidator>();
        builder.Services.AddOptions<ProxyCacheSettings>().BindConfiguration(ProxyOptions.CachesSection).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ProxyCacheSettings>, ProxyCacheSettingsValidator>();
        // Upstream passwords of pull-through caches are stored encrypted, with the installation's key ring.
        builder.Services.AddBuildGridDataProtection(AppId);
        builder.Services.AddSingleton<ProxyCacheStore>();
        builder.Services.AddSingleton<UpstreamUrls>();
        builder.Services.AddSingleton<UpstreamClient>();
        builder.Services.AddSingleton<ProxyCache>();
        builder.Services.TryAddSingleton<RegistryTokens>();
        builder.Services.AddSingleton<RegistryAuth>();
        // Reads anyone may call: each shows an anonymous caller only public repositories (and public namespaces).
        builder.Services.Configure<AnonymousAccessOptions>(o =>
        {
            foreach (var method in AnonymousReads)
                o.Methods.Add($"/{V1.Registry.Descriptor.FullName}/{method}");
        });
        builder.Services.AddSingleton<GarbageCollector>();
        builder.Services.AddHostedService<GcSchedule>();
        builder.Services.AddOptions<NotificationOptions>().BindConfiguration(NotificationOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<NotificationOptions>, NotificationOptionsValidator>();
        builder.Services.AddSingleton<NotificationStore>();
        builder.Services.AddKeyedSingleton(NotificationOptions.Targets, (sp, _) => new NetworkPolicy(
            sp.GetRequiredService<IOptions<NotificationOptions>>().Value.AllowedNetworks, NotificationOptions.Section + ":AllowedNetworks"));
        builder.Services.AddSingleton<NotificationSender>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<NotificationSender>());
        return builder;
    }

    /// <summary>The gRPC API and the OCI distribution API on <c>/v2/</c> (plain endpoints, served on the REST listener).</summary>
    public static WebApplication MapRegistry(this WebApplication app)
    {
        if (app.Services.GetService<Marker>() is null)
            throw new InvalidOperationException("Call builder.AddRegistry() before app.MapRegistry().");
        app.MapGrpcService<RegistryService>();
        app.MapNotificationSubscriptions();
        // Browsers' cross-origin writes and, in protected mode, foreign Host names are refused as the spec's DENIED.
        app.UseBrowserRequestGuard(path => path.StartsWithSegments("/v2") || path.StartsWithSegments("/service/token"),
            (context, message) => OciErrors.WriteAsync(context.Response, new RegistryException(RegistryError.Denied, message)));
        app.MapMethods("/v2/{**path}", DistributionApi.Methods, (HttpContext context, DistributionApi api) => api.HandleAsync(context));
        // Harbor's token realm, for scripts that ask it directly; clients follow the challenge's realm (/v2/token).
        app.MapGet("/service/token", (HttpContext context, DistributionApi api) => api.HandleAsync(context));
        return app;
    }
}
