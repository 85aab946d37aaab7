using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using BuildGrid.Tests.DaprStandIn;
using Dapr.AppCallback.Autogen.Grpc.v1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using StackExchange.Redis;
using Yarp.ReverseProxy.Forwarder;
using TopicStatus = Dapr.AppCallback.Autogen.Grpc.v1.TopicEventResponse.Types.TopicEventResponseStatus;

namespace BuildGrid.Tests.Infrastructure;

/// <summary>
/// FAKE: stands in for the Dapr sidecar (daprd), which cannot be installed on these machines. It follows daprd 1.14
/// for an app declared <c>app-protocol: grpc</c>, from Dapr's protos (dapr/proto/runtime/v1/appcallback.proto,
/// dapr.proto) and its pub/sub and resiliency documentation, and does nothing else:
/// <list type="bullet">
/// <item>service invocation: a gRPC call with <c>dapr-app-id</c> metadata is proxied (HTTP/2, trailers intact) to an
/// instance of that app (round robin over the instances of one app id); a missing or unknown app id fails as daprd
/// fails it. Every call to the app carries <c>dapr-api-token</c> when an app API token is set;</item>
/// <item>subscriptions: when an app is registered (daprd: once the app channel is ready), it calls
/// <c>AppCallback/ListTopicSubscriptions</c> on the app's gRPC port. One app id is one consumer group
/// (<c>consumerID: {appID}</c>): each event goes to one instance of each subscribing app id;</item>
/// <item>publishing: the gRPC <c>PublishEvent</c> call (what the app's DaprClient uses), and the HTTP publish API
/// (<c>POST /v1.0/publish/&lt;pubsub&gt;/&lt;topic&gt;</c>: a CloudEvent as is, other content wrapped in one; 204, or
/// 404 ERR_PUBSUB_NOT_FOUND / 400 ERR_PUBSUB_CLOUD_EVENTS_SER). Events wait on a real Redis list per app id and topic;</item>
/// <item>delivery: <c>AppCallback/OnTopicEvent</c> with the CloudEvent split as daprd splits it (core attributes as fields,
/// <c>data</c> as JSON bytes for a JSON content type, <c>data_base64</c> decoded, every other attribute in
/// <c>extensions</c>). SUCCESS acknowledges; DROP (and gRPC Unimplemented) moves the event to the subscription's
/// dead-letter topic; RETRY, an unknown status or another gRPC error is retried under the resiliency policy
/// (dapr/components/resiliency.yaml, <c>transient</c>: exponential, 5 retries; intervals shortened for tests), then
/// dead-lettered. An app that cannot be reached (Unavailable) keeps its events pending until it answers again, as daprd
/// with app health checks pauses the subscription of an unhealthy app.</item>
/// </list>
/// </summary>
public sealed class FakeDaprSidecar : IAsyncDisposable
{
    /// <summary>The one pub/sub component, named as in dapr/components/pubsub.yaml.</summary>
    public const string PubSubName = "buildgrid-pubsub";
    /// <summary>The resiliency policy <c>transient</c> of dapr/components/resiliency.yaml: retries after the first attempt.</summary>
    public const int MaxRetries = 5;

    const string AppCallbackService = "dapr.proto.runtime.v1.AppCallback";
    static readonly Method<Empty, ListTopicSubscriptionsResponse> ListTopicSubscriptionsMethod = new(MethodType.Unary, AppCallbackService,
        "ListTopicSubscriptions", Marshal(Empty.Parser), Marshal(ListTopicSubscriptionsResponse.Parser));
    static readonly Method<TopicEventRequest, TopicEventResponse> OnTopicEventMethod = new(MethodType.Unary, AppCallbackService,
        "OnTopicEvent", Marshal(TopicEventRequest.Parser), Marshal(TopicEventResponse.Parser));

    static Marshaller<T> Marshal<T>(MessageParser<T> parser) where T : IMessage<T> =>
        Marshallers.Create(m => m.ToByteArray(), parser.ParseFrom);

    readonly WebApplication app;
    readonly string? appApiToken;
    readonly ConcurrentDictionary<string, AppInstances> apps = new();
    readonly ConcurrentDictionary<(string AppId, string Topic), Subscription> subscriptions = new();
    readonly CancellationTokenSource stopping = new();
    readonly List<Task> deliveries = [];
    readonly IConnectionMultiplexer? redis;

    sealed record Subscription(string AppId, string Topic, string? DeadLetterTopic);

    sealed class AppInstances
    {
        readonly List<(Uri Address, GrpcChannel Channel)> instances = [];
        int next;

        public void Add(Uri address)
        {
            lock (instances)
            {
                if (instances.All(i => i.Address != address))
                    instances.Add((address, GrpcChannel.ForAddress(address)));
            }
        }

        public (Uri Address, GrpcChannel Channel) Next()
        {
            lock (instances) return instances[next++ % instances.Count];
        }

        public void Dispose()
        {
            lock (instances) foreach (var instance in instances) instance.Channel.Dispose();
        }
    }

    /// <summary>Every proxied call: "&lt;app id&gt; &lt;gRPC path&gt;".</summary>
    public ConcurrentQueue<string> Invocations { get; } = new();
    /// <summary>Every delivery attempt: app, topic, event id, the app's answer (SUCCESS, RETRY, DROP, or the gRPC status code of a failed call).</summary>
    public ConcurrentQueue<(string App, string Topic, string EventId, string Status)> Deliveries { get; } = new();
    /// <summary>Every event moved to a dead-letter topic: that topic, and the event id.</summary>
    public ConcurrentQueue<(string Topic, string EventId)> DeadLetters { get; } = new();
    public int GrpcPort { get; private set; }
    /// <summary>The Dapr HTTP API's port (HTTP/1.1), as daprd's DAPR_HTTP_PORT.</summary>
    public int HttpPort { get; private set; }
    /// <summary>The first retry interval (daprd's exponential policy doubles it each time).</summary>
    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    FakeDaprSidecar(WebApplication app, IConnectionMultiplexer? redis, string? appApiToken) =>
        (this.app, this.redis, this.appApiToken) = (app, redis, appApiToken);

    /// <summary>Registers an instance of an app by its gRPC address (the app port), and with pub/sub asks it for its subscriptions.</summary>
    public async Task RegisterAsync(string appId, Uri grpcAddress)
    {
        var instances = apps.GetOrAdd(appId, _ => new AppInstances());
        instances.Add(grpcAddress);
        if (redis is null)
            return;
        using var channel = GrpcChannel.ForAddress(grpcAddress);
        var declared = await channel.CreateCallInvoker().AsyncUnaryCall(ListTopicSubscriptionsMethod, null, CallOptions(), new Empty());
        foreach (var item in declared.Subscriptions.Where(s => s.PubsubName == PubSubName))
        {
            var subscription = new Subscription(appId, item.Topic, item.DeadLetterTopic is { Length: > 0 } dead ? dead : null);
            if (subscriptions.TryAdd((appId, item.Topic), subscription))
                lock (deliveries) deliveries.Add(Task.Run(() => DeliverAsync(subscription)));
        }
    }

    /// <summary>Registers an app for service invocation only.</summary>
    public void Register(string appId, Uri grpcAddress) => apps.GetOrAdd(appId, _ => new AppInstances()).Add(grpcAddress);

    CallOptions CallOptions(CancellationToken cancellationToken = default)
    {
        var headers = new Metadata();
        if (appApiToken is not null)
            headers.Add("dapr-api-token", appApiToken);
        return new CallOptions(headers, cancellationToken: cancellationToken);
    }

    /// <summary>Starts the stand-in; with <paramref name="pubsubRedis"/>, pub/sub on it; with <paramref name="appApiToken"/>, Dapr's app API token.</summary>
    public static async Task<FakeDaprSidecar> StartAsync(RedisServer? pubsubRedis = null, string? appApiToken = null, TimeSpan? retryInterval = null)
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
        var sidecar = new FakeDaprSidecar(app, redis, appApiToken) { RetryInterval = retryInterval ?? TimeSpan.FromMilliseconds(50) };
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
            if (appId.Length == 0 || !sidecar.apps.TryGetValue(appId, out var instances))
            {
                context.Response.ContentType = "application/grpc";
                context.Response.AppendTrailer("grpc-status", appId.Length == 0 ? "3" : "14");
                context.Response.AppendTrailer("grpc-message", appId.Length == 0 ? "dapr-app-id metadata is missing" : $"app {appId} not found");
                return;
            }
            sidecar.Invocations.Enqueue($"{appId} {context.Request.Path}");
            if (sidecar.appApiToken is not null)
                context.Request.Headers["dapr-api-token"] = sidecar.appApiToken;
            await forwarder.SendAsync(context, instances.Next().Address.ToString().TrimEnd('/'), invoker, config);
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
        if (redis is null || request.PubsubName != PubSubName)
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"pubsub {request.PubsubName} is not found"));
        await EnqueueAsync(request.Topic, request.Data.ToByteArray());
    }

    async Task EnqueueAsync(string topic, byte[] envelope)
    {
        foreach (var subscription in subscriptions.Values.Where(s => s.Topic == topic))
            await redis!.GetDatabase().ListLeftPushAsync(Queue(subscription.AppId, subscription.Topic), envelope);
    }

    /// <summary>The CloudEvent as daprd hands it to a gRPC app (daprd 1.14, pkg/runtime/subscription: publishMessageGRPC).</summary>
    static TopicEventRequest ToTopicEvent(JsonElement cloudEvent, Subscription subscription)
    {
        string Text(string name) => cloudEvent.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
        var request = new TopicEventRequest
        {
            Id = Text("id"), Source = Text("source"), Type = Text("type"), SpecVersion = Text("specversion"),
            DataContentType = Text("datacontenttype"), Topic = subscription.Topic, PubsubName = PubSubName,
        };
        if (cloudEvent.TryGetProperty("data_base64", out var base64) && base64.ValueKind == JsonValueKind.String)
            request.Data = ByteString.FromBase64(base64.GetString()!);
        else if (cloudEvent.TryGetProperty("data", out var data) && data.ValueKind != JsonValueKind.Null)
        {
            var type = request.DataContentType;
            if (type.StartsWith("text/", StringComparison.OrdinalIgnoreCase) && data.ValueKind == JsonValueKind.String)
                request.Data = ByteString.CopyFromUtf8(data.GetString()!);
            else if (type.Contains("json", StringComparison.OrdinalIgnoreCase))
                request.Data = ByteString.CopyFromUtf8(data.GetRawText());
        }
        string[] core = ["id", "source", "type", "specversion", "datacontenttype", "data", "data_base64"];
        var extensions = new Struct();
        foreach (var property in cloudEvent.EnumerateObject().Where(p => !core.Contains(p.Name)))
            extensions.Fields[property.Name] = Value.Parser.ParseJson(property.Value.GetRawText());
        request.Extensions = extensions;
        return request;
    }

    async Task DeliverAsync(Subscription subscription)
    {
        var db = redis!.GetDatabase();
        var instances = apps[subscription.AppId];
        while (!stopping.IsCancellationRequested)
        {
            var item = await db.ListRightPopAsync(Queue(subscription.AppId, subscription.Topic));
            if (item.IsNull)
            {
                await Task.Delay(20).ConfigureAwait(false);
                continue;
            }
            byte[] body = item!;
            using var document = JsonDocument.Parse(body);
            var request = ToTopicEvent(document.RootElement, subscription);
            var retries = 0;
            var interval = RetryInterval;
            while (!stopping.IsCancellationRequested)
            {
                string status;
                try
                {
                    var response = await instances.Next().Channel.CreateCallInvoker()
                        .AsyncUnaryCall(OnTopicEventMethod, null, CallOptions(stopping.Token), request);
                    status = response.Status switch
                    {
                        TopicStatus.Success => "SUCCESS",
                        TopicStatus.Drop => "DROP",
                        TopicStatus.Retry => "RETRY",
                        _ => "UNKNOWN",
                    };
                }
                catch (RpcException e) when (!stopping.IsCancellationRequested)
                {
                    status = e.StatusCode.ToString();
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                Deliveries.Enqueue((subscription.AppId, subscription.Topic, request.Id, status));
                if (status == "SUCCESS")
                    break;
                if (status == nameof(StatusCode.Unavailable))
                {
                    // The app is away (app health check failing): the event stays pending, the subscription waits.
                    await Task.Delay(200).ConfigureAwait(false);
                    continue;
                }
                if (status is "DROP" or nameof(StatusCode.Unimplemented) || retries == MaxRetries)
                {
                    if (subscription.DeadLetterTopic is { } dead)
                    {
                        DeadLetters.Enqueue((dead, request.Id));
                        await EnqueueAsync(dead, body);
                    }
                    break;
                }
                retries++;
                await Task.Delay(interval).ConfigureAwait(false);
                interval *= 2;
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
        foreach (var instances in apps.Values) instances.Dispose();
        if (redis is not null) await redis.DisposeAsync();
    }
}
