using System.Text;
using System.Text.Json.Nodes;
using BuildGrid.Core.Hosting;
using BuildGrid.Core.Networking;
using BuildGrid.Registry.Storage;
using Microsoft.Extensions.Options;

namespace BuildGrid.Registry.Notifications;

/// <summary>
/// Sends queued notification deliveries: polls the table (and wakes on <see cref="Wake"/>), claims each due delivery
/// (so that of the replicas sharing the database only one sends it, and none once its notification is disabled), sends
/// it by its method, and records the outcome — success resets the notification's failure count; a failure counts one
/// and schedules a retry with exponential backoff until the attempts run out or the notification reaches 3 consecutive
/// failures (disabled; its pending deliveries are dropped, as Quay's worker does). State is only in the table, so a
/// restart resumes where it stopped.
/// </summary>
public sealed class NotificationSender(NotificationStore store, [FromKeyedServices(NotificationOptions.Targets)] NetworkPolicy targets, IOptions<NotificationOptions> options,
    TimeProvider time, ILogger<NotificationSender> logger) : BackgroundService
{
    readonly SemaphoreSlim signal = new(0, 1);
    readonly HttpClient http = new(targets.CreateHandler()) { Timeout = Timeout.InfiniteTimeSpan };

    public void Wake()
    {
        if (signal.CurrentCount == 0)
        {
            try { signal.Release(); }
            catch (SemaphoreFullException) { }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var due = await store.DueAsync(20, stoppingToken);
                foreach (var delivery in due)
                    await SendOneAsync(delivery, settings, stoppingToken);
                if (due.Count == 20)
                    continue;
                await signal.WaitAsync(settings.PollInterval, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Log.SenderFailed(logger, e);
                try { await Task.Delay(settings.PollInterval, stoppingToken); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    async Task SendOneAsync(PendingDelivery delivery, NotificationOptions settings, CancellationToken stoppingToken)
    {
        if (await store.ClaimAsync(delivery, time.GetUtcNow() + settings.SendTimeout + ClaimMargin, stoppingToken) != DeliveryClaim.Claimed)
            return;
        string? error;
        try
        {
            error = await SendAsync(delivery, settings, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: the delivery is due again at once and is sent after the restart.
            await store.ReleaseAsync(delivery.Id, CancellationToken.None);
            throw;
        }
        if (error is null)
        {
            // Sent: recorded even while stopping, or the restart would send it again.
            await store.MarkDeliveredAsync(delivery.Id, delivery.Uuid, CancellationToken.None);
            return;
        }
        var attempt = delivery.Attempts + 1;
        DateTimeOffset? retryAt = null;
        if (attempt < settings.MaxAttempts)
        {
            retryAt = time.GetUtcNow() + Backoff.Next(delivery.Attempts, settings.InitialBackoff, settings.MaxBackoff);
        }
        var failures = await store.MarkFailedAsync(delivery.Id, delivery.Uuid, error, retryAt, CancellationToken.None);
        Log.DeliveryFailed(logger, delivery.Id, delivery.Uuid, delivery.Method, attempt, failures, error);
    }

    /// <summary>How long a claim outlasts the send's timeout (the time to record the outcome).</summary>
    static readonly TimeSpan ClaimMargin = TimeSpan.FromSeconds(30);

    /// <summary>Sends one delivery; null on success, otherwise what went wrong.</summary>
    async Task<string?> SendAsync(PendingDelivery delivery, NotificationOptions settings, CancellationToken stoppingToken)
    {
        if (delivery.Method == NotificationEvents.QuayNotification)
            return null;   // stored: the delivery row is the notice, read through ListNotificationDeliveries
        JsonObject? config;
        try
        {
            config = JsonNode.Parse(delivery.Config) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            // A row stored before config depth was bounded: a failure of this notification, not of the sender.
            return "The notification's stored config cannot be read: delete the notification and create it again";
        }
        if (config?["url"] is not JsonValue urlValue || !urlValue.TryGetValue<string>(out var url) || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
            return "Missing webhook URL";
        var body = delivery.Method == NotificationEvents.Slack
            ? NotificationEvents.SlackBody(delivery.Event, (JsonNode.Parse(delivery.Payload) as JsonObject) ?? [])
            : delivery.Payload;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(settings.SendTimeout);
        try
        {
            using var content = new StringContent(body, Encoding.UTF8, "application/json");
            using var response = await http.PostAsync(uri, content, timeout.Token);
            return response.IsSuccessStatusCode ? null : $"the target answered {(int)response.StatusCode} {response.ReasonPhrase}";
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            return $"no answer within {settings.SendTimeout.TotalSeconds:0.#} s";
        }
        catch (HttpRequestException e)
        {
            return e.InnerException is NetworkRefusedException refused ? refused.Message : e.Message;
        }
    }

    public override void Dispose()
    {
        http.Dispose();
        signal.Dispose();
        base.Dispose();
    }
}
