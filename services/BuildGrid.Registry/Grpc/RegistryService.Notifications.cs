using BuildGrid.Core.Contracts;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Identity;
using BuildGrid.Core.Networking;
using BuildGrid.Registry.Domain;
using BuildGrid.Registry.Notifications;
using BuildGrid.Registry.Storage;
using BuildGrid.Registry.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace BuildGrid.Registry.Grpc;

/// <summary>Explicit repository creation and settings, and repository notifications.</summary>
public sealed partial class RegistryService
{
    static readonly JsonFormatter StructFormatter = new(JsonFormatter.Settings.Default);

    public override async Task<Repository> CreateRepository(CreateRepositoryRequest request, ServerCallContext context)
    {
        RequireRole(context, request.Name, "name", Role.Developer);
        RequireDescription(request.HasDescription ? request.Description : null);
        if (!await store.CreateRepositoryAsync(request.Name, request.HasDescription ? request.Description : null, request.Public,
                OperatorOf(request.Operator, context), context.CancellationToken))
            throw Errors.Create(Google.Rpc.Code.AlreadyExists, Reasons.RepositoryExists, "Repository already exists", ("id", request.Name));
        return ToProto((await store.GetRepositorySummaryAsync(request.Name, Access.PrincipalOf(context).Name, context.CancellationToken))!);
    }

    public override async Task<Repository> UpdateRepository(UpdateRepositoryRequest request, ServerCallContext context)
    {
        // Quay: the description needs write access, visibility and quota need admin on the repository.
        RequireRole(context, request.Name, "name", request.HasPublic || request.HasQuotaBytes ? Role.Owner : Role.Developer);
        if (request.HasQuotaBytes && request.QuotaBytes < 0)
            throw Errors.Invalid(Reasons.InvalidArgument, "quota_bytes", "quota_bytes must be 0 or more");
        RequireDescription(request.HasDescription ? request.Description : null);
        if (!await store.UpdateRepositoryAsync(request.Name, request.HasDescription ? request.Description : null,
                request.HasPublic ? request.Public : null, request.HasQuotaBytes ? request.QuotaBytes : null, context.CancellationToken))
            throw Errors.NotFound(Reasons.RepositoryNotFound, "repository", request.Name);
        return ToProto((await store.GetRepositorySummaryAsync(request.Name, Access.PrincipalOf(context).Name, context.CancellationToken))!);
    }

    static void RequireDescription(string? description)
    {
        if (description is not null && RepositoryLimits.DescriptionProblem(description) is { } problem)
            throw Errors.Invalid(Reasons.InvalidArgument, "description", problem);
    }

    public override async Task<Notification> CreateNotification(CreateNotificationRequest request, ServerCallContext context)
    {
        RequireRole(context, request.Repository, "repository", Role.Owner);
        if (!NotificationEvents.Events.Contains(request.Event))
            throw Errors.Invalid(Reasons.InvalidArgument, "event",
                $"Unknown event '{Names.Shorten(request.Event)}'; allowed: {string.Join(", ", NotificationEvents.Events)}");
        if (!NotificationEvents.Methods.Contains(request.Method))
            throw Errors.Invalid(Reasons.InvalidArgument, "method",
                $"Unknown method '{Names.Shorten(request.Method)}'; allowed: {string.Join(", ", NotificationEvents.Methods)}");
        // Before anything is stored: a config too deep to read back would break the repository's notification list.
        foreach (var (field, value) in new[] { ("config", request.Config), ("event_config", request.EventConfig) })
            if (NotificationConfigLimits.Problem(value, field) is { } problem)
                throw Errors.Invalid(Reasons.InvalidArgument, field, problem);
        var config = request.Config ?? new Struct();
        if (request.Method is NotificationEvents.Webhook or NotificationEvents.Slack)
        {
            if (!config.Fields.TryGetValue("url", out var url) || url.KindCase != Value.KindOneofCase.StringValue || url.StringValue.Length == 0)
                throw Errors.Invalid(Reasons.InvalidArgument, "config", "Missing webhook URL");
            if (!NetworkPolicy.TryParseHttpUrl(url.StringValue, out var target))
                throw Errors.Invalid(Reasons.InvalidArgument, "config", "Invalid webhook URL");
            if (await targets.CheckUrlAsync(target, context.CancellationToken) is { } refusal)
                throw Errors.Invalid(Reasons.WebhookRefused, "config", "Invalid webhook URL: " + refusal);
        }
        await RequireRepositoryAsync(request.Repository, context.CancellationToken);
        var row = await notifications.CreateAsync(request.Repository, request.HasTitle ? request.Title : null, request.Event, request.Method,
            StructFormatter.Format(config), StructFormatter.Format(request.EventConfig ?? new Struct()), context.CancellationToken);
        return ToProto(row);
    }

    public override async Task<Notification> GetNotification(NotificationRef request, ServerCallContext context)
    {
        RequireRole(context, request.Repository, "repository", Role.Owner);
        return ToProto(await RequireNotificationAsync(request, context.CancellationToken));
    }

    public override async Task<ListNotificationsResponse> ListNotifications(ListNotificationsRequest request, ServerCallContext context)
    {
        RequireRole(context, request.Repository, "repository", Role.Owner);
        await RequireRepositoryAsync(request.Repository, context.CancellationToken);
        return new ListNotificationsResponse
        {
            Notifications = { (await notifications.ListAsync(request.Repository, context.CancellationToken)).Select(ToProto) },
        };
    }

    public override async Task<Empty> DeleteNotification(NotificationRef request, ServerCallContext context)
    {
        RequireRole(context, request.Repository, "repository", Role.Owner);
        if (!await notifications.DeleteAsync(request.Repository, request.Uuid, context.CancellationToken))
            throw NotificationNotFound(request);
        return new Empty();
    }

    public override async Task<Notification> ResetNotification(NotificationRef request, ServerCallContext context)
    {
        RequireRole(context, request.Repository, "repository", Role.Owner);
        if (!await notifications.ResetAsync(request.Repository, request.Uuid, context.CancellationToken))
            throw NotificationNotFound(request);
        sender.Wake();
        return ToProto(await RequireNotificationAsync(request, context.CancellationToken));
    }

    public override async Task<Empty> TestNotification(NotificationRef request, ServerCallContext context)
    {
        RequireRole(context, request.Repository, "repository", Role.Owner);
        var row = await RequireNotificationAsync(request, context.CancellationToken);
        var sample = NotificationEvents.Sample(row.Event, row.Repository, notificationOptions.Value.ServerHostname);
        await notifications.QueueAsync(row.Uuid, row.Event, sample.ToJsonString(), context.CancellationToken);
        sender.Wake();
        return new Empty();
    }

    public override async Task<ListNotificationDeliveriesResponse> ListNotificationDeliveries(ListNotificationDeliveriesRequest request, ServerCallContext context)
    {
        if (request.Limit < 0)
            throw Errors.Invalid(Reasons.InvalidArgument, "limit", "limit must be 0 or more");
        RequireRole(context, request.Repository, "repository", Role.Owner);
        var row = await RequireNotificationAsync(new NotificationRef { Repository = request.Repository, Uuid = request.Uuid }, context.CancellationToken);
        var rows = await notifications.ListDeliveriesAsync(row.Uuid, request.Limit == 0 ? 50 : Math.Min(request.Limit, 500), context.CancellationToken);
        var response = new ListNotificationDeliveriesResponse();
        foreach (var d in rows)
        {
            var item = new NotificationDelivery
            {
                Id = d.Id, Event = d.Event, Payload = d.Payload, Attempts = d.Attempts, CreateTime = Time(d.CreatedAt), LastError = d.LastError ?? "",
            };
            if (d.DeliveredAt is { } delivered) item.DeliverTime = Time(delivered);
            if (d.AbandonedAt is { } abandoned) item.AbandonTime = Time(abandoned);
            response.Deliveries.Add(item);
        }
        return response;
    }

    async Task<NotificationRow> RequireNotificationAsync(NotificationRef request, CancellationToken cancellationToken)
    {
        ValidateRepository(request.Repository, "repository");
        return await notifications.FindAsync(request.Repository, request.Uuid, cancellationToken) ?? throw NotificationNotFound(request);
    }

    static RpcException NotificationNotFound(NotificationRef request) =>
        Errors.NotFound(Reasons.NotificationNotFound, "notification", $"{request.Repository}/{request.Uuid}");

    static Notification ToProto(NotificationRow row)
    {
        var config = ReadStored(row.Config);
        var eventConfig = ReadStored(row.EventConfig);
        var notification = new Notification
        {
            Uuid = row.Uuid, Repository = row.Repository, Event = row.Event, Method = row.Method,
            Config = config ?? new Struct(), EventConfig = eventConfig ?? new Struct(),
            NumberOfFailures = row.NumberOfFailures, Enabled = row.NumberOfFailures < NotificationStore.DisableAfterFailures,
            LastError = config is null || eventConfig is null
                ? $"the stored {(config is null ? "config" : "event_config")} cannot be read (nested deeper than {NotificationConfigLimits.MaxDepth} levels, " +
                  "larger than allowed, or malformed; stored before these limits): delete this notification and create it again"
                : row.LastError ?? "",
            CreateTime = Time(row.CreatedAt),
        };
        if (row.Title is not null)
            notification.Title = row.Title;
        return notification;
    }

    /// <summary>
    /// A stored config as a Struct, or null when it cannot be one within the limits — a row stored before they held must
    /// not make the whole list fail (nor the answer, which the caller's protobuf parser reads with the same limits).
    /// </summary>
    static Struct? ReadStored(string json)
    {
        try
        {
            var value = Struct.Parser.ParseJson(json);
            return NotificationConfigLimits.Problem(value, "config") is null ? value : null;
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or InvalidJsonException or FormatException)
        {
            return null;
        }
    }
}

internal static class RepositoryProtoExtensions
{
    public static Repository WithOptional(this Repository repository, RepositorySummary row)
    {
        if (row.Description is not null) repository.Description = row.Description;
        if (row.QuotaBytes is { } quota) repository.QuotaBytes = quota;
        return repository;
    }
}
