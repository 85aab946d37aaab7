using BuildGrid.Core.Clients;
using BuildGrid.Core.Hosting;
using BuildGrid.Core.Identity;
using BuildGrid.Gateway.Dialects;
using BuildGrid.Gateway.Dialects.Harbor;
using BuildGrid.Gateway.Dialects.ImageMarket;
using BuildGrid.Gateway.Dialects.Quay;
using BuildGrid.Gateway.Dialects.Svacer;
using BuildGrid.Gateway.Dialects.Zadig;
using BuildGrid.Gateway.OpenApi;
using BuildGrid.Gateway.Rest;

namespace BuildGrid.Gateway;

public static class GatewayExtensions
{
    sealed class Marker;

    /// <summary>JSON transcoding of the facade protos and typed clients of the domain services.</summary>
    public static WebApplicationBuilder AddGateway(this WebApplicationBuilder builder)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(Marker)))
            return builder;
        builder.Services.AddSingleton<Marker>();
        builder.Services.AddOptions<GatewayOptions>().BindConfiguration("Gateway").ValidateOnStart();
        builder.Services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<GatewayOptions>, GatewayOptionsValidator>();
        // Public repositories are readable without credentials through the Harbor and Quay facades, as on /v2/.
        builder.Services.Configure<Core.Identity.AnonymousAccessOptions>(o =>
        {
            HarborExtensions.AllowAnonymousReads(o);
            QuayExtensions.AllowAnonymousReads(o);
        });
        // Defaults as measured against the transcoder: case-sensitive names (json_name does the odd ones),
        // default values written ("errMsg":"" and "code":0 appear, as the documents show).
        // The google.rpc detail types (ErrorInfo...) must be known, or a domain error that passes through a facade method
        // cannot be written and the transcoder answers an empty 500; the dialect's error step then reshapes the body.
        builder.Services.AddGrpc().AddJsonTranscoding(o =>
            o.TypeRegistry = Google.Protobuf.Reflection.TypeRegistry.FromFiles(Google.Rpc.ErrorDetailsReflection.Descriptor));
        builder.Services.AddImageMarket().AddSvacer().AddZadig();
        builder.Services.AddReadableRequestBinder();
        builder.Services.AddBuildGridClient<Projects.V1.Projects.ProjectsClient>(ServiceAddresses.Projects);
        builder.Services.AddBuildGridClient<Builds.V1.BuildRuns.BuildRunsClient>(ServiceAddresses.Builds);
        builder.Services.AddBuildGridClient<Builds.V1.BuildDefinitions.BuildDefinitionsClient>(ServiceAddresses.Builds);
        builder.Services.AddBuildGridClient<Containers.V1.Containers.ContainersClient>(ServiceAddresses.Containers);
        builder.Services.AddBuildGridClient<Registry.V1.Registry.RegistryClient>(ServiceAddresses.Registry);
        // The Identity client, and Identity as the judge of credentials (it is hosted here or reachable: BuildGridHost).
        Core.Identity.IdentityCredentialValidator.Use(builder.Services);
        return builder;
    }

    public static WebApplication MapGateway(this WebApplication app)
    {
        if (app.Services.GetService<Marker>() is null)
            throw new InvalidOperationException("Call builder.AddGateway() before app.MapGateway().");
        app.MapImageMarket();
        app.MapSvacer();
        app.MapHarbor();
        app.MapQuay();
        app.MapZadig();
        // Inside the dialects' error steps, so that each shapes the refusal in its format; /v2/ has its own (MapRegistry).
        app.UseBrowserRequestGuard(path => !path.StartsWithSegments("/v2") && !path.StartsWithSegments("/service/token"));
        // Inside the dialects' error steps, so that their 413s and 401s are shaped in each dialect's format.
        app.UseRestLimitsAndChallenge(app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<GatewayOptions>>().Value.MaxRequestBodyBytes);
        app.UseRunLogFollow();
        // After the log follow (a stream it writes itself): the transcoded /buildgrid/v1 routes' full disk is 507.
        app.UseInsufficientStorageStatus(["/buildgrid/v1"]);
        app.MapGrpcService<BuildGridRestService>();
        app.MapGrpcService<IdentityRestService>();
        app.MapGrpcService<RegistryRestService>();
        app.MapGrpcService<ProjectsRestService>();
        app.MapOpenApiDocument("/openapi.json");
        return app;
    }
}
