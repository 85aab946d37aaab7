using BuildGrid.Core.Clients;
using BuildGrid.Core.Hosting;
using BuildGrid.Gateway.Console;
using BuildGrid.Gateway.Hosting;

namespace BuildGrid.Gateway;

/// <summary>
/// The gateway process of distributed mode: the REST dialects, the console and <c>/v2/</c> forwarding, in front of services
/// that each run as their own process (an address per service, <c>BUILDGRID_PROJECTS_URL</c>..., or a Dapr sidecar).
/// It hosts no service: a service without an address is a start-up error that names the setting. Standalone BuildGrid —
/// the gateway and every service in one process — is composed by <c>gateway/BuildGrid.Standalone</c> from the same parts.
/// </summary>
public static class GatewayHost
{
    /// <param name="args">Command-line configuration (<c>--BUILDGRID_REST_URL=...</c>), over the environment.</param>
    /// <param name="configure">Extra composition (tests add log sinks here).</param>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = BuildGridDefaults.CreateBuilder(args);
        configure?.Invoke(builder);
        builder.AddBuildGridDefaults();
        var local = ServiceAddresses.AppIds.Where(id => !ServiceAddresses.IsRemote(builder.Configuration, id)).ToList();
        if (local.Count > 0)
            throw new StartupException(
                $"the gateway hosts no service: set {string.Join(", ", local.Select(ServiceAddresses.UrlSetting))} (or run it beside a Dapr sidecar), " +
                "or run standalone BuildGrid (gateway/BuildGrid.Standalone).");
        builder.Services.AddRegistryForwarding();
        builder.AddFrontPorch();
        var app = builder.Build();
        app.UseFrontPorchRouting();
        app.MapRegistryForwarding();
        app.MapFrontPorch();
        return app;
    }

    /// <summary>The gateway and the console: what every composition of BuildGrid puts in front of its services.</summary>
    public static WebApplicationBuilder AddFrontPorch(this WebApplicationBuilder builder)
    {
        builder.AddGateway();
        builder.AddConsole();
        return builder;
    }

    /// <summary>The first steps of the pipeline: request paths as clients mean them, routing, health and metrics.</summary>
    public static WebApplication UseFrontPorchRouting(this WebApplication app)
    {
        // Hand-written clients send "/api/project/new " (seed 000 does): the trailing space is not part of the route.
        app.Use((context, next) =>
        {
            if (context.Request.Path.Value is { } path && path.Length > 1 && char.IsWhiteSpace(path[^1]))
                context.Request.Path = new PathString(path.TrimEnd());
            return next(context);
        });
        app.UseRouting();
        app.MapBuildGridDefaults();
        return app;
    }

    /// <summary>The dialects, the REST extension, OpenAPI and the console; after the services' own endpoints.</summary>
    public static WebApplication MapFrontPorch(this WebApplication app)
    {
        app.MapGateway();
        app.MapConsole();
        return app;
    }
}
