using BuildGrid.Core.Hosting;
using System.Net;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

namespace BuildGrid.Gateway.Hosting;

/// <summary>
/// The registry's HTTP API (<c>/v2/</c>, the token realm <c>/v2/token</c>, <c>/service/token</c>) on the gateway when the
/// Registry runs as its own process: requests are forwarded, streamed both ways, to the Registry's REST listener named by
/// <c>BUILDGRID_REGISTRY_REST_URL</c>, keeping the client's Host so that the Registry's challenge realm and upload
/// locations name the gateway. <c>podman pull &lt;gateway&gt;/ns/app:tag</c> then works in every layout. Without that
/// setting a remote Registry's <c>/v2/</c> answers the distribution API's UNAVAILABLE, saying what to set.
/// </summary>
public static class RegistryForwarding
{
    public const string Setting = "BUILDGRID_REGISTRY_REST_URL";

    public static IServiceCollection AddRegistryForwarding(this IServiceCollection services)
    {
        services.AddHttpForwarder();
        return services;
    }

    public static WebApplication MapRegistryForwarding(this WebApplication app)
    {
        var configured = app.Configuration[Setting];
        if (string.IsNullOrWhiteSpace(configured))
        {
            RequestDelegate unavailable = context =>
                UnavailableAsync(context, $"the registry runs as its own process: set {Setting} on the gateway to its REST address");
            app.Map("/v2/{**path}", unavailable);
            app.Map("/service/token", unavailable);
            return app;
        }
        if (!Uri.TryCreate(configured.Trim(), UriKind.Absolute, out var target) || target.Scheme != Uri.UriSchemeHttp)
            throw new StartupException($"{Setting} must be an http:// URL such as http://127.0.0.1:9280, not '{configured}'.");
        var destination = target.GetLeftPart(UriPartial.Authority);
        var invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false, AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None, UseCookies = false,
            ConnectTimeout = TimeSpan.FromSeconds(10),
        });
        // Blob uploads are as large as the Registry allows (it enforces Registry:MaxBlobSize), and may take long.
        var config = new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromMinutes(10) };
        var transformer = new KeepHost();
        async Task Forward(HttpContext context, IHttpForwarder forwarder)
        {
            if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
                limit.MaxRequestBodySize = null;
            var error = await forwarder.SendAsync(context, destination, invoker, config, transformer);
            if (error != ForwarderError.None && !context.Response.HasStarted)
                await UnavailableAsync(context, $"the registry at {destination} did not answer ({error})");
        }
        app.Map("/v2/{**path}", Forward);
        app.Map("/service/token", Forward);
        return app;
    }

    /// <summary>The distribution API's error body (<c>{"errors":[{"code":"UNAVAILABLE",…}]}</c>) with a 503.</summary>
    static Task UnavailableAsync(HttpContext context, string message)
    {
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        return context.Response.WriteAsJsonAsync(new { errors = new[] { new { code = "UNAVAILABLE", message, detail = (object?)null } } });
    }

    /// <summary>The default transforms (X-Forwarded-*), and the client's Host instead of the Registry's.</summary>
    sealed class KeepHost : HttpTransformer
    {
        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix,
            CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
            proxyRequest.Headers.Host = httpContext.Request.Host.Value;
        }
    }
}
