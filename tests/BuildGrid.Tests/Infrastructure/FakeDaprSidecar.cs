using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using BuildGrid.Tests.DaprStandIn;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using StackExchange.Redis;
using Yarp.ReverseProxy.Forwarder;

namespace BuildGrid.Tests.Infrastructure;

/// <summary>
/// FAKE: stands in for the Dapr sidecar (daprd), which cannot be installed on these machines. It implements the
/// contracts BuildGrid relies on, and nothing more:
/// <list type="bullet">
/// <item>service invocation: gRPC calls with <c>dapr-app-id</c> metadata are proxied (HTTP/2, trailers intact) to that
/// app; a missing or unknown app id fails as daprd fails it;</item>
/// <item>pub/sub: the Dapr gRPC <c>PublishEvent</c> call, and the Dapr HTTP publish API
/// (<c>POST /v1.0/publish/&lt;pubsub&gt;/&lt;topic&gt;</c> on the HTTP port: a CloudEvent as is, other content wrapped
/// in one; 204, or 404 ERR_PUBSUB_NOT_FOUND / 400 ERR_PUBSUB_CLOUD_EVENTS_SER), store the CloudEvent on a real Redis list per subscribed app,
/// and a delivery loop POSTs it to the route the app declared on <c>/dapr/subscribe</c>, retrying a non-2xx or RETRY
/// answer with backoff and moving a DROP to the dead-letter topic — at-least-once, as Dapr delivers.</item>
/// </list>
/// </summary>
public sealed class FakeDaprSidecar : IAsyncDisposable
{
    readonly WebApplication app;
    readonly ConcurrentDictionary<string, Uri> grpcApps = new();
    readonly ConcurrentDictionary<string, List<Subscription>> subscriptions = new();
    readonly CancellationTokenSource stopping = new();
    readonly List<Task> deliveries = [];
    readonly IConnectionMultiplexer? redis;
    readonly HttpClient http = new();

    sealed record Subscription(string AppId, Uri RestUrl, string Topic, string Route, string? DeadLetterTopic);

    public ConcurrentQueue<string> Invocations { get; } = new();
    /// <summary>Every delivery attempt: app, topic, event id, HTTP status (0 when the app could not be reached).</summary>
    public ConcurrentQueue<(string App, string Topic, string EventId, int Status)> Deliveries { get; } = new();
    public int GrpcPort { get; private set; }
    /// <summary>The Dapr HTTP API's port (HTTP/1.1), as daprd's DAPR_HTTP_PORT.</summary>
    public int HttpPort { get; private set; }
    /// <summary>The one pub/sub component, named as in dapr/components/pubsub.yaml.</summary>
    public const string PubSubName = "buildgrid-pubsub";

    FakeDaprSidecar(WebApplication app, IConnectionMultiplexer? redis) => (this.app, this.redis) = (app, redis);

    /// <summary>Registers an app: its gRPC address for invocation and, with pub/sub, its REST address for subscriptions.</summary>
    public async Task RegisterAsync(string appId, Uri grpcAddress, Uri? restAddress = null)
    {
        grpcApps[appId] = grpcAddress;
        if (restAddress is null || redis is null)
            return;
        using var declared = JsonDocument.Parse(await http.GetStringAsync(new Uri(restAddress, "/dapr/subscribe")));
        foreach (var item in declared.RootElement.EnumerateArray())
        {
            var route = item.TryGetProperty("route", out var r) ? r.GetString()! : item.GetProperty("routes").GetProperty("default").GetString()!;
            var subscription = new Subscription(appId, restAddress, item.GetProperty("topic").GetString()!, "/" + route.TrimStart('/'),
                item.TryGetProperty("deadLetterTopic", out var dead) ? dead.GetString() : null);
            subscriptions.AddOrUpdate(subscription.Topic, _ => [subscription], (_, list) => { lock (list) list.Add(subscription); return list; });
            lock (deliveries) deliveries.Add(Task.Run(() => DeliverAsync(subscription)));
        }
    }

    public void Register(string appId, Uri grpcAddress) => grpcApps[appId] = grpcAddress;

    public static async Task<FakeDaprSidecar> StartAsync(RedisServer? pubsubRedis = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        ListenOptions? grpcListener = null, httpListener = null;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0, o => { o.Protocols = HttpProtocols.Http2; grpcListener = o; });
            k.Listen(IPAddress.Loopback, 0, o => { o.Protocols = HttpProtocols.Http1; httpListener = o; });
        });
        builder.Services.AddHttpForwarder();
        // Unknown gRPC services must reach the invocation proxy below, not gRPC's own "unimplemented" answer.
        builder.Services.AddGrpc(o => o.IgnoreUnknownServices = true);
        builder.Logging.ClearProviders();
        var redis = pubsubRedis is null ? null : await ConnectionMultiplexer.ConnectAsync(pubsubRedis.ConnectionString);
        builder.Services.AddSingleton(sp => new PublishService(sp.GetRequiredService<Holder>().Sidecar!));
        builder.Services.AddSingleton<Holder>();
        var app = builder.Build();
        var sidecar = new FakeDaprSidecar(app, redis);
        app.Services.GetRequiredService<Holder>().Sidecar = sidecar;
        app.MapGrpcService<PublishService>();
        var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, UseCookies = false });
        var config = new ForwarderRequestConfig { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        app.MapPost("/v1.0/publish/{pubsub}/{topic}", async (string pubsub, string topic, HttpContext context) =>
        {
            if (sidecar.redis is null || pubsub != PubSubName)
                return Results.Json(new { errorCode = "ERR_PUBSUB_NOT_FOUND", message = $"pubsub {pubsub} is not found" }, statusCode: 404);
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            var contentType = context.Request.ContentType ?? "application/json";
            byte[] envelope;
            try
            {
                if (contentType.StartsWith("application/cloudevents+json", StringComparison.OrdinalIgnoreCase))
                {
                    // A CloudEvent is passed through as it is, once it is one: an object with an id.
                    using var document = JsonDocument.Parse(buffer.ToArray());
                    if (document.RootElement.ValueKind != JsonValueKind.Object || !document.RootElement.TryGetProperty("id", out _))
                        throw new JsonException("a CloudEvent needs an id");
                    envelope = buffer.ToArray();
                }
                else
                {
                    // Anything else becomes the data of a CloudEvent daprd makes up.
                    var json = contentType.Contains("json", StringComparison.OrdinalIgnoreCase);
                    var wrapped = new System.Text.Json.Nodes.JsonObject
                    {
                        ["specversion"] = "1.0", ["id"] = Guid.NewGuid().ToString(), ["source"] = "dapr-standin", ["type"] = "com.dapr.event.sent",
                        ["datacontenttype"] = contentType, ["topic"] = topic, ["pubsubname"] = pubsub,
                        ["data"] = json ? System.Text.Json.Nodes.JsonNode.Parse(buffer.ToArray()) : System.Text.Encoding.UTF8.GetString(buffer.ToArray()),
                    };
                    envelope = JsonSerializer.SerializeToUtf8Bytes(wrapped);
                }
            }
            catch (JsonException e)
            {
                return Results.Json(new { errorCode = "ERR_PUBSUB_CLOUD_EVENTS_SER", message = e.Message }, statusCode: 400);
            }
            await sidecar.EnqueueAsync(topic, envelope);
            return Results.NoContent();
        });
        app.Map("/{**path}", async (HttpContext context, IHttpForwarder forwarder) =>
        {
            var appId = context.Request.Headers["dapr-app-id"].ToString();
            if (appId.Length == 0 || !sidecar.grpcApps.TryGetValue(appId, out var target))
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
        // Kestrel writes the bound port back into each listener's endpoint.
        (sidecar.GrpcPort, sidecar.HttpPort) = (grpcListener!.IPEndPoint!.Port, httpListener!.IPEndPoint!.Port);
        return sidecar;
    }

    sealed class Holder { public FakeDaprSidecar? Sidecar { get; set; } }

    static RedisKey Queue(string appId, string topic) => $"standin:{appId}:{topic}";

    async Task PublishAsync(PublishEventRequest request)
    {
        if (redis is null)
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "no pub/sub component"));
        await EnqueueAsync(request.Topic, request.Data.ToByteArray());
    }

    async Task EnqueueAsync(string topic, byte[] envelope)
    {
        if (!subscriptions.TryGetValue(topic, out var list))
            return;
        Subscription[] targets;
        lock (list) targets = [.. list];
        foreach (var subscription in targets)
            await redis!.GetDatabase().ListLeftPushAsync(Queue(subscription.AppId, subscription.Topic), envelope);
    }

    async Task DeliverAsync(Subscription subscription)
    {
        var db = redis!.GetDatabase();
        var backoff = TimeSpan.FromMilliseconds(50);
        while (!stopping.IsCancellationRequested)
        {
            var item = await db.ListRightPopAsync(Queue(subscription.AppId, subscription.Topic));
            if (item.IsNull)
            {
                await Task.Delay(20).ConfigureAwait(false);
                continue;
            }
            byte[] body = item!;
            var eventId = JsonDocument.Parse(body).RootElement.TryGetProperty("id", out var id) ? id.GetString() ?? "" : "";
            string? status = null;
            var code = 0;
            try
            {
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/cloudevents+json");
                using var response = await http.PostAsync(new Uri(subscription.RestUrl, subscription.Route), content, stopping.Token);
                code = (int)response.StatusCode;
                if (response.IsSuccessStatusCode)
                {
                    var text = await response.Content.ReadAsStringAsync(stopping.Token);
                    status = text.Length == 0 ? "SUCCESS" : JsonDocument.Parse(text).RootElement.GetProperty("status").GetString();
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException) { }
            Deliveries.Enqueue((subscription.AppId, subscription.Topic, eventId, code));
            if (status == "SUCCESS")
            {
                backoff = TimeSpan.FromMilliseconds(50);
            }
            else if (status == "DROP")
            {
                if (subscription.DeadLetterTopic is { } dead)
                    await db.ListLeftPushAsync($"standin:deadletter:{dead}", body);
            }
            else
            {
                // Not delivered: back to the front of the line, and wait before trying again.
                await db.ListRightPushAsync(Queue(subscription.AppId, subscription.Topic), body);
                await Task.Delay(backoff).ConfigureAwait(false);
                backoff = TimeSpan.FromMilliseconds(Math.Min(2000, backoff.TotalMilliseconds * 2));
            }
        }
    }

    sealed class PublishService(FakeDaprSidecar sidecar) : DaprStandIn.Dapr.DaprBase
    {
        public override async Task<Empty> PublishEvent(PublishEventRequest request, ServerCallContext context)
        {
            await sidecar.PublishAsync(request);
            return new Empty();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync();
        Task[] pending;
        lock (deliveries) pending = [.. deliveries];
        await Task.WhenAll(pending).ContinueWith(_ => { }, TaskScheduler.Default);
        await app.StopAsync();
        await app.DisposeAsync();
        if (redis is not null) await redis.DisposeAsync();
        http.Dispose();
    }
}
