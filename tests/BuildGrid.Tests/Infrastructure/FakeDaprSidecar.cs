using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Yarp.ReverseProxy.Forwarder;

namespace BuildGrid.Tests.Infrastructure;

/// <summary>
/// FAKE: stands in for the Dapr sidecar (daprd), which cannot be installed on these machines. It implements only the
/// contract BuildGrid relies on for gRPC service invocation: calls arrive on the sidecar's gRPC port with a
/// <c>dapr-app-id</c> metadata entry, and are proxied (HTTP/2, trailers intact) to that app. Unknown or missing app ids
/// fail as daprd fails them (gRPC Unavailable/InvalidArgument), so a caller that forgets the header is caught.
/// </summary>
public sealed class FakeDaprSidecar : IAsyncDisposable
{
    readonly WebApplication app;
    readonly ConcurrentDictionary<string, Uri> apps = new();

    public ConcurrentQueue<string> Invocations { get; } = new();
    public int GrpcPort { get; private set; }

    FakeDaprSidecar(WebApplication app) => this.app = app;

    public void Register(string appId, Uri grpcAddress) => apps[appId] = grpcAddress;

    public static async Task<FakeDaprSidecar> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddHttpForwarder();
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var sidecar = new FakeDaprSidecar(app);
        var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, UseCookies = false });
        var config = new ForwarderRequestConfig { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        app.Map("/{**path}", async (HttpContext context, IHttpForwarder forwarder) =>
        {
            var appId = context.Request.Headers["dapr-app-id"].ToString();
            if (appId.Length == 0 || !sidecar.apps.TryGetValue(appId, out var target))
            {
                context.Response.ContentType = "application/grpc";
                context.Response.AppendTrailer("grpc-status", appId.Length == 0 ? "3" : "14");
                context.Response.AppendTrailer("grpc-message", appId.Length == 0 ? "dapr-app-id metadata is missing" : $"app {appId} not found");
                return;
            }
            sidecar.Invocations.Enqueue($"{appId} {context.Request.Path}");
            await forwarder.SendAsync(context, target.ToString().TrimEnd('/'), invoker, config);
        });
        await app.StartAsync();
        sidecar.GrpcPort = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()).Port;
        return sidecar;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
