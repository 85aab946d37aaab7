using System.Net;
using BuildGrid.Core.Clients;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Events;
using BuildGrid.Core.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BuildGrid.Core.Hosting;

public static class BuildGridDefaults
{
    /// <summary>
    /// The web application builder of every BuildGrid process. Its content root is the application's own directory, not
    /// the working directory: the default data directory (<c>./data</c>) lives under the working directory, and the
    /// configuration file watcher on the content root would otherwise put an inotify watch on each of its subdirectories
    /// and wake up for every blob and database write (measured: 189 watches and about 4% of the server's CPU during
    /// 1 MB pushes). An <c>appsettings.json</c> beside the binaries is still read, and reloaded on change.
    /// </summary>
    public static WebApplicationBuilder CreateBuilder(string[] args) =>
        WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });

    /// <summary>BUILDGRID_* listeners, gRPC with reflection, health, telemetry, events, and the service-address resolver.</summary>
    public static WebApplicationBuilder AddBuildGridDefaults(this WebApplicationBuilder builder)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(BuildGridEndpoints)))
            return builder;

        // Before anything is written: the data directory and every file in it (and of child processes) owner-only.
        OwnerOnlyFiles.RestrictUmask();
        var settings = BuildGridSettings.From(builder.Configuration);
        OwnerOnlyFiles.CreateDirectory(settings.DataDir);
        var endpoints = new BuildGridEndpoints();
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(endpoints);
        builder.Services.AddSingleton(sp => new Storage.DiskSpace(settings.DataDir, settings.MinFreeBytes, settings.SqlProvider == "sqlite",
            sp.GetRequiredService<ILogger<Storage.DiskSpace>>()));

        // Reads of up to 64 KiB from a socket instead of 2 KiB on average (large pushes): see LargeBlockMemoryPool.
        builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IMemoryPoolFactory<byte>, LargeBlockMemoryPool.Factory>();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // Header limits for every request (Kestrel answers a bare 431 beyond them, before any middleware runs):
            // room for a Basic or Bearer credential and a signed identity token, not for a flood of headers.
            kestrel.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            kestrel.Limits.MaxRequestHeaderCount = 100;
            // Kestrel's own floor (240 B/s) gives each pending write size/240 seconds: a 1 MiB blob chunk over an hour, so
            // a client that stops reading a large blob held its buffers for good. At 64 KiB/s it gets 16 s per MiB.
            kestrel.Limits.MinResponseDataRate = settings.MinResponseBytesPerSecond > 0
                ? new MinDataRate(settings.MinResponseBytesPerSecond, TimeSpan.FromSeconds(10)) : null;
            endpoints.Rest = Listen(kestrel, settings.RestUrl, HttpProtocols.Http1);
            endpoints.Grpc = Listen(kestrel, settings.GrpcUrl, HttpProtocols.Http2);
        });

        var identity = IdentitySettings.From(builder.Configuration, settings, builder.Environment.ApplicationName);
        builder.Services.AddSingleton(identity);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<ServiceTokens>();
        builder.Services.TryAddSingleton<SignedMessages>();
        // Where an Identity service is reachable (its address or Dapr; AddIdentity covers the process that hosts it), it
        // judges every credential; otherwise only the bootstrap admin's Basic credentials are known.
        if (ServiceAddresses.IsRemote(builder.Configuration, IdentityCredentialValidator.AppId))
            IdentityCredentialValidator.Use(builder.Services);
        else
            builder.Services.TryAddSingleton<ICredentialValidator, AdminCredentialValidator>();
        builder.Services.AddSingleton<ErrorSizeInterceptor>();
        builder.Services.AddSingleton<PrincipalInterceptor>();
        builder.Services.AddSingleton<AuditTrail>();
        builder.Services.AddSingleton<AuditInterceptor>();
        builder.Services.AddOptions<AnonymousAccessOptions>();
        builder.Services.Configure<AnonymousAccessOptions>(o => o.Methods.UnionWith(Health.GrpcMethods));
        if (settings.DaprEnabled)
            // The sidecar calls AppCallback without BuildGrid credentials; DaprAppGuard checks its app API token instead.
            builder.Services.Configure<AnonymousAccessOptions>(o => o.Methods.UnionWith(DaprAppCallback.MethodNames));

        builder.Services.AddGrpc(options =>
        {
            options.Interceptors.Add<ErrorSizeInterceptor>();
            options.Interceptors.Add<PrincipalInterceptor>();
            // After the principal is known: records every successful write of a domain service.
            options.Interceptors.Add<AuditInterceptor>();
            // Without this, two-segment REST paths with a wrong method answer 404 instead of 405.
            options.IgnoreUnknownServices = true;
            options.MaxReceiveMessageSize = 16 * 1024 * 1024;
        });
        builder.Services.AddReadableRequestBinder();
        builder.Services.AddGrpcReflection();
        builder.Services.AddBuildGridHealth(settings, builder.Configuration);
        builder.AddBuildGridTelemetry();
        builder.AddRequestLogging();
        builder.Services.TryAddSingleton<ServiceAddresses>();
        builder.Services.AddBuildGridEvents(settings, builder.Configuration, builder.Environment.ApplicationName);
        builder.Services.AddHostedService<ListeningBanner>();
        return builder;
    }

    /// <summary>
    /// One log line per request (<see cref="RequestLogging"/>), /healthz, /readyz and grpc.health.v1 (<see cref="Health"/>),
    /// /metrics (<see cref="Telemetry"/>), gRPC server reflection, and Dapr's AppCallback with a sidecar.
    /// </summary>
    public static WebApplication MapBuildGridDefaults(this WebApplication app)
    {
        if (app.Services.GetService<BuildGridEndpoints>() is null)
            throw new InvalidOperationException("Call builder.AddBuildGridDefaults() before app.MapBuildGridDefaults().");
        if (app.Services.GetServices<Grpc.AspNetCore.Server.Model.IServiceMethodProvider<Grpc.Reflection.ReflectionServiceImpl>>()
            .Any(p => p.GetType().Name.StartsWith("BinderServiceMethodProvider", StringComparison.Ordinal)))
            throw new InvalidOperationException("AddGrpc() ran after AddBuildGridDefaults(): call services.AddReadableRequestBinder() after it.");
        app.UseRequestLogging();
        app.MapBuildGridHealth();
        app.MapBuildGridMetrics();
        app.MapGrpcReflectionService();
        if (app.Services.GetRequiredService<BuildGridSettings>().DaprEnabled)
        {
            app.MapGrpcService<DaprAppCallback>();
            app.MapGrpcService<DaprAppHealthCheck>();
        }
        return app;
    }

    static ListenOptions Listen(KestrelServerOptions kestrel, Uri url, HttpProtocols protocols)
    {
        ListenOptions? captured = null;
        void Configure(ListenOptions o) { o.Protocols = protocols; captured = o; }
        switch (url.Host)
        {
            case "localhost":
                // ListenLocalhost binds both loopbacks but cannot take port 0; prefer the IPv4 loopback then.
                if (url.Port == 0) kestrel.Listen(IPAddress.Loopback, 0, Configure);
                else kestrel.ListenLocalhost(url.Port, Configure);
                break;
            case "*" or "+" or "0.0.0.0":
                kestrel.Listen(IPAddress.Any, url.Port, Configure);
                break;
            default:
                if (!IPAddress.TryParse(url.Host.Trim('[', ']'), out var address))
                    throw new StartupException($"Listen address '{url}' must be an IP address, localhost or *.");
                kestrel.Listen(address, url.Port, Configure);
                break;
        }
        return captured!;
    }

    sealed class ListeningBanner(IHostApplicationLifetime lifetime, BuildGridEndpoints endpoints, BuildGridSettings settings,
        IdentitySettings identity, ILogger<ListeningBanner> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            lifetime.ApplicationStarted.Register(() =>
            {
                if (identity.ProtectedMode)
                    Log.ProtectedMode(logger, IdentitySettings.AdminPasswordSetting);
                if (OwnerOnlyFiles.IsOpenToOthers(settings.DataDir))
                    Log.DataDirOpenToOthers(logger, settings.DataDir, OwnerOnlyFiles.Octal(settings.DataDir));
                Log.Listening(logger, endpoints.RestUri, endpoints.GrpcUri, settings.DataDir);
            });
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
