using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace BuildGrid.Tests.Quay;

/// <summary>A webhook target on 127.0.0.1: records every POST body and answers <see cref="Status"/>.</summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    readonly WebApplication app;
    public ConcurrentQueue<(string Path, JsonElement Body)> Received { get; } = new();
    public int Calls => calls;
    int calls;
    /// <summary>When each POST arrived, in order.</summary>
    public ConcurrentQueue<DateTimeOffset> CallTimes { get; } = new();
    public int Status { get; set; } = 200;
    /// <summary>How long each answer takes (a slow target keeps a send in flight).</summary>
    public TimeSpan Delay { get; set; }
    public Uri Url { get; private set; } = null!;

    WebhookReceiver(WebApplication app) => this.app = app;

    /// <summary>Starts on 127.0.0.1 (port 0 picks a free one).</summary>
    public static async Task<WebhookReceiver> StartAsync(int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.MapPost("/{**path}", async (HttpContext context) =>
        {
            Interlocked.Increment(ref receiver.calls);
            receiver.CallTimes.Enqueue(DateTimeOffset.UtcNow);
            using var json = await JsonDocument.ParseAsync(context.Request.Body);
            if (receiver.Delay > TimeSpan.Zero)
                await Task.Delay(receiver.Delay, context.RequestAborted);
            if (receiver.Status is >= 200 and < 300)
                receiver.Received.Enqueue((context.Request.Path, json.RootElement.Clone()));
            return Results.StatusCode(receiver.Status);
        });
        await app.StartAsync();
        receiver.Url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return receiver;
    }

    public string Hook(string name) => new Uri(Url, "/" + name).ToString();

    public IEnumerable<JsonElement> BodiesAt(string name) => Received.Where(r => r.Path == "/" + name).Select(r => r.Body);

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
