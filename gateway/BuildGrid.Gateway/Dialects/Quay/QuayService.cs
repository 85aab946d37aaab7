using System.Globalization;
using BuildGrid.Core.Identity;
using BuildGrid.Core.Contracts;
using BuildGrid.Gateway.Quay.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Qv1 = BuildGrid.Gateway.Quay.V1;
using Rv1 = BuildGrid.Registry.V1;

namespace BuildGrid.Gateway.Dialects.Quay;

/// <summary>
/// The Quay part of seed 003 over the Registry service: repositories ("namespace/name") and their notifications.
/// Errors are gRPC statuses here; <see cref="QuayExtensions"/> writes them as Quay's error object.
/// </summary>
public sealed class QuayService(Rv1.Registry.RegistryClient registry, TimeProvider time) : Qv1.Quay.QuayBase
{
    /// <summary>The namespace of a caller who names none and may create there (BuildGrid's default cluster).</summary>
    public const string DefaultNamespace = "default_cluster";
    const int PageSize = 100;
    const int MaxTags = 500;

    public override async Task<CreatedRepository> CreateRepository(Qv1.CreateRepositoryRequest request, ServerCallContext context)
    {
        if (request.Repository.Length == 0)
            throw Bad("'repository' is a required property");
        if (request.Visibility is not ("public" or "private"))
            throw Bad(request.Visibility.Length == 0 ? "'visibility' is a required property" : $"'{request.Visibility}' is not one of ['public', 'private']");
        if (request.RepoKind.Length > 0 && request.RepoKind != "image")
            throw Bad($"'{request.RepoKind}' is not one of ['image']");
        if (!request.HasDescription)
            throw Bad("'description' is a required property");
        var ns = request.Namespace.Length > 0 ? request.Namespace : DefaultNamespaceOf(Access.PrincipalOf(context));
        // Quay's REPOSITORY_NAME_REGEX allows 255 characters for the name alone; the registry holds the namespace besides.
        if (ns.Contains('/') || request.Repository.Contains('/') || request.Repository.Length > OciNames.MaxNameInNamespaceLength)
            throw Bad("Invalid repository name");
        var create = new Rv1.CreateRepositoryRequest { Name = $"{ns}/{request.Repository}", Public = request.Visibility == "public", Operator = Access.Operator(context, null) };
        if (request.Description.Length > 0)
            create.Description = request.Description;
        try
        {
            await registry.CreateRepositoryAsync(create);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.AlreadyExists)
        {
            throw Bad("Repository already exists");
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.InvalidArgument)
        {
            throw Bad(Core.Errors.Errors.Info(e)?.Metadata.TryGetValue("field", out var field) == true && field == "description"
                ? e.Status.Detail : "Invalid repository name");
        }
        SetStatus(context, StatusCodes.Status201Created);
        return new CreatedRepository { Namespace = ns, Name = request.Repository, Kind = "image" };
    }

    public override async Task<Qv1.ListRepositoriesResponse> ListRepositories(Qv1.ListRepositoriesRequest request, ServerCallContext context)
    {
        // Quay refuses a list with no scope. As Quay's get_visible_repositories: the repositories the caller holds a role
        // on, plus with public=true every public one it may see; namespace narrows either. Private ones it may not read never show.
        if (request.Namespace.Length == 0 && !request.Starred && !request.Public)
            throw Bad("namespace, starred or public are required for this API call");
        if (request.RepoKind.Length > 0 && request.RepoKind != "image")
            throw Bad($"'{request.RepoKind}' is not one of ['image']");
        var response = new Qv1.ListRepositoriesResponse();
        // starred=true: the caller's starred repositories that it may still read, whether it holds a role on them or not.
        var list = new Rv1.ListRepositoriesRequest
        {
            PageSize = PageSize, PageToken = request.NextPage,
            NamePrefix = request.Namespace.Length > 0 ? request.Namespace + "/" : "", MemberOnly = !request.Public && !request.Starred,
            StarredOnly = request.Starred,
        };
        var result = await ListInQuayOrderAsync(list);
        foreach (var repository in result.Repositories)
        {
            var (ns, name) = Split(repository.Name);
            var item = new RepositoryItem
            {
                Namespace = ns, Name = name, Description = Nullable(repository.HasDescription ? repository.Description : null),
                IsPublic = repository.Public, Kind = "image", State = "NORMAL", IsStarred = repository.Starred, QuotaReport = Quota(repository),
            };
            if (request.LastModified)
                item.LastModified = await LastPushAsync(repository.Name, context) is { } seconds ? Value.ForNumber(seconds) : Value.ForNull();
            if (request.Popularity)
                item.Popularity = 0;
            response.Repositories.Add(item);
        }
        if (result.NextPageToken.Length > 0)
            response.NextPage = result.NextPageToken;
        return response;
    }

    /// <summary>
    /// A page of repositories in Quay's order: by repository id, oldest first, in every mode — <c>get_visible_repositories</c>
    /// orders by <c>rid</c> and <c>/user/starred</c> paginates on <c>Repository.id</c>; the starred mode of the repository list
    /// has no ORDER BY at all, so BuildGrid gives it the same order.
    /// </summary>
    async Task<Rv1.ListRepositoriesResponse> ListInQuayOrderAsync(Rv1.ListRepositoriesRequest list)
    {
        list.Order = Rv1.RepositoryOrder.Created;
        try
        {
            return await registry.ListRepositoriesAsync(list);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.InvalidArgument && list.PageToken.Length > 0
                                     && Core.Errors.Errors.Info(e)?.Metadata.TryGetValue("field", out var field) == true && field == "page_token")
        {
            // Quay reads a next_page it cannot decrypt as none: the first page.
            list.PageToken = "";
            return await registry.ListRepositoriesAsync(list);
        }
    }

    public override async Task<RepositoryDetails> GetRepository(Qv1.GetRepositoryRequest request, ServerCallContext context)
    {
        var repository = await registry.GetRepositoryAsync(new Rv1.GetRepositoryRequest { Name = InPath(request.Repository) });
        var (ns, name) = Split(repository.Name);
        var principal = Access.PrincipalOf(context);
        var details = new RepositoryDetails
        {
            Namespace = ns, Name = name, Kind = "image", Description = Nullable(repository.HasDescription ? repository.Description : null),
            IsPublic = repository.Public, IsOrganization = true, IsStarred = repository.Starred, StatusToken = "", TrustEnabled = false,
            TagExpirationS = 1209600, IsFreeAccount = true, State = "NORMAL", QuotaReport = Quota(repository),
            CanWrite = principal.Can(ns, Role.Developer), CanAdmin = principal.Can(ns, Role.Owner),
        };
        if (!request.HasIncludeTags || request.IncludeTags)
        {
            var tags = await registry.ListTagsAsync(new Rv1.ListTagsRequest { Repository = request.Repository, PageSize = MaxTags });
            // Quay's tag size is its manifest's layers' total: one manifest read per distinct digest.
            var sizes = new Dictionary<string, Value>();
            foreach (var digest in tags.Tags.Select(t => t.Digest).Distinct())
            {
                var manifest = await registry.GetManifestAsync(new Rv1.GetManifestRequest { Repository = request.Repository, Reference = digest });
                sizes[digest] = manifest.ConfigDescriptor is null && manifest.Manifests.Count > 0 ? Value.ForNull() : Value.ForNumber(manifest.Layers.Sum(l => l.Size));
            }
            details.Tags = new Struct();
            foreach (var tag in tags.Tags)
                details.Tags.Fields[tag.Name] = Value.ForStruct(new Struct
                {
                    Fields =
                    {
                        ["name"] = Value.ForString(tag.Name), ["size"] = sizes[tag.Digest], ["manifest_digest"] = Value.ForString(tag.Digest),
                        ["last_modified"] = Value.ForString(tag.UpdateTime.ToDateTimeOffset().ToString("ddd, dd MMM yyyy HH:mm:ss '-0000'", CultureInfo.InvariantCulture)),
                    },
                });
        }
        if (request.IncludeStats)
        {
            // Quay's daily action counts over three months, zeros where a day has none; BuildGrid counts no actions.
            details.Stats = new ListValue();
            var today = time.GetUtcNow().UtcDateTime.Date;
            for (var day = 1; day < MaxDaysInThreeMonths; day++)
                details.Stats.Values.Add(Value.ForStruct(new Struct
                {
                    Fields = { ["date"] = Value.ForString(today.AddDays(-day).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)), ["count"] = Value.ForNumber(0) },
                }));
        }
        return details;
    }

    /// <summary>Quay's MAX_DAYS_IN_3_MONTHS (endpoints/api/repository.py).</summary>
    const int MaxDaysInThreeMonths = 92;

    /// <summary>The newest tag's push time in Unix seconds (Quay's most recent tag lifetime start); null without tags.</summary>
    async Task<long?> LastPushAsync(string repository, ServerCallContext context)
    {
        var tags = await registry.ListTagsAsync(new Rv1.ListTagsRequest { Repository = repository });
        return tags.Tags.Count == 0 ? null : tags.Tags.Max(t => t.UpdateTime.Seconds);
    }

    public override async Task<Success> UpdateRepository(Qv1.UpdateRepositoryRequest request, ServerCallContext context)
    {
        if (request.Description is null || request.Description.KindCase != Value.KindOneofCase.StringValue)
            throw Bad("'description' is a required property");
        await registry.UpdateRepositoryAsync(new Rv1.UpdateRepositoryRequest { Name = InPath(request.Repository), Description = request.Description.StringValue });
        return new Success { Success_ = true };
    }

    public override async Task<Empty> DeleteRepository(RepositoryRef request, ServerCallContext context)
    {
        var name = InPath(request.Repository);
        try
        {
            await registry.DeleteRepositoryAsync(new Rv1.DeleteRepositoryRequest { Name = name, Operator = Access.Operator(context, null) });
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound && Access.PrincipalOf(context).Can(Split(request.Repository).Namespace, Role.Owner))
        {
            // Quay checks the namespace admin's permission, not the repository, and marks for deletion what is there:
            // a repository already gone is 204 again for its admin (others see 403/404 as before).
        }
        return NoContent(context);
    }

    public override async Task<Success> ChangeVisibility(ChangeVisibilityRequest request, ServerCallContext context)
    {
        if (request.Visibility is not ("public" or "private"))
            throw Bad(request.Visibility.Length == 0 ? "'visibility' is a required property" : $"'{request.Visibility}' is not one of ['public', 'private']");
        await registry.UpdateRepositoryAsync(new Rv1.UpdateRepositoryRequest { Name = InPath(request.Repository), Public = request.Visibility == "public" });
        return new Success { Success_ = true };
    }

    public override async Task<CreatedStar> CreateStar(CreateStarRequest request, ServerCallContext context)
    {
        if (request.Namespace.Length == 0 || request.Repository.Length == 0)
            throw Bad($"'{(request.Namespace.Length == 0 ? "namespace" : "repository")}' is a required property");
        if (request.Namespace.Contains('/') || request.Repository.Contains('/'))
            throw Bad("Invalid repository name");
        // As Quay: a repository that cannot exist is not found, like one that does not.
        await registry.SetStarAsync(new Rv1.SetStarRequest { Name = InPath($"{request.Namespace}/{request.Repository}"), Starred = true });
        SetStatus(context, StatusCodes.Status201Created);
        return new CreatedStar { Namespace = request.Namespace, Repository = request.Repository };
    }

    public override async Task<ListStarredResponse> ListStarredRepositories(ListStarredRequest request, ServerCallContext context)
    {
        var result = await ListInQuayOrderAsync(new Rv1.ListRepositoriesRequest
        {
            PageSize = PageSize, PageToken = request.NextPage, StarredOnly = true,
        });
        var response = new ListStarredResponse();
        foreach (var repository in result.Repositories)
        {
            var (ns, name) = Split(repository.Name);
            response.Repositories.Add(new StarredRepository
            {
                Namespace = ns, Name = name, Description = Nullable(repository.HasDescription ? repository.Description : null), IsPublic = repository.Public,
            });
        }
        if (result.NextPageToken.Length > 0)
            response.NextPage = result.NextPageToken;
        return response;
    }

    public override async Task<Empty> DeleteStar(RepositoryRef request, ServerCallContext context)
    {
        await registry.SetStarAsync(new Rv1.SetStarRequest { Name = InPath(request.Repository), Starred = false });
        return NoContent(context);
    }

    public override async Task<Qv1.Notification> CreateNotification(Qv1.CreateNotificationRequest request, ServerCallContext context)
    {
        foreach (var (field, missing) in new[] { ("event", request.Event.Length == 0), ("method", request.Method.Length == 0), ("config", request.Config is null),
                     ("eventConfig", request.EventConfig is null) })
            if (missing)
                throw Bad($"'{field}' is a required property");
        // Checked here too, before a deep message crosses to the Registry (whose parser would refuse it as a transport error).
        foreach (var (field, value) in new[] { ("config", request.Config), ("eventConfig", request.EventConfig) })
            if (NotificationConfigLimits.Problem(value, field) is { } problem)
                throw Bad(problem);
        // Quay's QuayNotificationMethod.validate: a target with a kind is required ("Missing target").
        if (request.Method == "quay_notification"
            && !(request.Config!.Fields.TryGetValue("target", out var target) && target.StructValue?.Fields.TryGetValue("kind", out var kind) == true
                 && kind.KindCase == Value.KindOneofCase.StringValue && kind.StringValue.Length > 0))
        {
            // As Quay, a repository that does not exist is 404 before the method's config is looked at.
            await registry.GetRepositoryAsync(new Rv1.GetRepositoryRequest { Name = InPath(request.Repository) });
            throw Bad("Missing target");
        }
        var create = new Rv1.CreateNotificationRequest
        {
            Repository = InPath(request.Repository), Event = request.Event, Method = request.Method, Config = request.Config, EventConfig = request.EventConfig,
        };
        if (request.Title is { KindCase: Value.KindOneofCase.StringValue } title)
            create.Title = title.StringValue;
        else if (request.Title is { KindCase: not Value.KindOneofCase.NullValue })
            throw Bad("'title' is not of type 'string'");
        var created = await registry.CreateNotificationAsync(create);
        SetStatus(context, StatusCodes.Status201Created);
        return ToQuay(created);
    }

    public override async Task<ListNotificationsResponse> ListNotifications(RepositoryRef request, ServerCallContext context)
    {
        var result = await registry.ListNotificationsAsync(new Rv1.ListNotificationsRequest { Repository = InPath(request.Repository) });
        return new ListNotificationsResponse { Notifications = { result.Notifications.Select(ToQuay) } };
    }

    public override async Task<Qv1.Notification> GetNotification(Qv1.NotificationRef request, ServerCallContext context) =>
        ToQuay(await registry.GetNotificationAsync(Ref(request)));

    public override async Task<Empty> DeleteNotification(Qv1.NotificationRef request, ServerCallContext context)
    {
        await NotificationCallAsync(request, () => registry.DeleteNotificationAsync(Ref(request)).ResponseAsync);
        return NoContent(context);
    }

    public override async Task<Empty> ResetNotificationFailures(Qv1.NotificationRef request, ServerCallContext context)
    {
        await NotificationCallAsync(request, () => registry.ResetNotificationAsync(Ref(request)).ResponseAsync);
        return NoContent(context);
    }

    public override async Task<Empty> TestNotification(Qv1.NotificationRef request, ServerCallContext context)
    {
        await NotificationCallAsync(request, () => registry.TestNotificationAsync(Ref(request)).ResponseAsync);
        return new Empty();
    }

    public override async Task<ListDeliveriesResponse> ListNotificationDeliveries(Qv1.NotificationRef request, ServerCallContext context)
    {
        var result = await registry.ListNotificationDeliveriesAsync(new Rv1.ListNotificationDeliveriesRequest
        {
            Repository = InPath(request.Repository), Uuid = request.Uuid,
        });
        var response = new ListDeliveriesResponse();
        foreach (var d in result.Deliveries)
        {
            Struct payload;
            try { payload = Struct.Parser.ParseJson(d.Payload); }
            catch (Google.Protobuf.InvalidJsonException) { payload = new Struct(); }
            response.Deliveries.Add(new Delivery
            {
                Id = d.Id, Event = d.Event, Payload = payload, Attempts = d.Attempts, LastError = d.LastError, Created = d.CreateTime.Seconds,
                State = d.DeliverTime is not null ? "delivered" : d.AbandonTime is not null ? "abandoned" : "pending",
            });
        }
        return response;
    }

    /// <summary>Delete, reset and test answer an unknown notification with Quay's 400 (GET answers 404).</summary>
    static async Task NotificationCallAsync(Qv1.NotificationRef request, Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            var (ns, name) = Split(request.Repository);
            throw Bad($"No repository notification found for: {ns}, {name}, {request.Uuid}");
        }
    }

    static Rv1.NotificationRef Ref(Qv1.NotificationRef request) => new() { Repository = InPath(request.Repository), Uuid = request.Uuid };

    /// <summary>The repository of the path; a name no repository can have is Quay's 404, as a missing repository is.</summary>
    static string InPath(string repository) =>
        OciNames.IsValidRepository(repository) ? repository : throw DialectErrors.Raise(StatusCode.NotFound, "NOT_FOUND", "Not Found");

    /// <summary>
    /// Quay creates in the caller's own namespace when the body names none. BuildGrid has no personal namespaces:
    /// default_cluster for a caller who may create there, else the one namespace the caller may create in (a robot's own).
    /// </summary>
    static string DefaultNamespaceOf(Principal principal)
    {
        var writable = principal.Roles.Where(r => r.Value >= Role.Developer).Select(r => r.Key).ToList();
        return principal.Can(DefaultNamespace, Role.Developer) || writable.Count != 1 ? DefaultNamespace : writable[0];
    }

    static Qv1.Notification ToQuay(Rv1.Notification n) => new()
    {
        Uuid = n.Uuid, Title = Nullable(n.HasTitle ? n.Title : null), Event = n.Event, Method = n.Method, Config = n.Config ?? new Struct(),
        EventConfig = n.EventConfig ?? new Struct(), NumberOfFailures = n.NumberOfFailures, Enabled = n.Enabled, LastError = n.LastError,
    };

    static QuotaReport Quota(Rv1.Repository repository) => new()
    {
        QuotaBytes = repository.SizeBytes,
        ConfiguredQuota = repository.HasQuotaBytes ? Value.ForNumber(repository.QuotaBytes) : Value.ForNull(),
    };

    static Value Nullable(string? text) => text is null ? Value.ForNull() : Value.ForString(text);

    static (string Namespace, string Name) Split(string repository)
    {
        var slash = repository.IndexOf('/');
        return slash > 0 ? (repository[..slash], repository[(slash + 1)..]) : ("", repository);
    }

    /// <summary>A success status other than 200, set just before the headers go out (the transcoder has set 200 by then).</summary>
    internal static void SetStatus(ServerCallContext context, int status)
    {
        var response = context.GetHttpContext().Response;
        response.OnStarting(() =>
        {
            response.StatusCode = status;
            return Task.CompletedTask;
        });
    }

    /// <summary>204 with no body: the transcoder's "{}" goes to Stream.Null (JSON transcoding always writes a body for an empty message).</summary>
    internal static Empty NoContent(ServerCallContext context)
    {
        var http = context.GetHttpContext();
        // Only the REST route answers 204 without a body; a gRPC caller of the facade gets its Empty message.
        if (http.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true)
            return new Empty();
        var response = http.Response;
        response.Body = Stream.Null;
        response.OnStarting(() =>
        {
            response.StatusCode = StatusCodes.Status204NoContent;
            response.Headers.ContentType = default;
            return Task.CompletedTask;
        });
        return new Empty();
    }

    static RpcException Bad(string message) => DialectErrors.Raise(StatusCode.InvalidArgument, Core.Errors.Reasons.InvalidArgument, message);

}
