using BuildGrid.Core.Clients;
using BuildGrid.Core.Contracts;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Identity;
using BuildGrid.Core.Networking;
using BuildGrid.Registry.Distribution;
using BuildGrid.Registry.Domain;
using BuildGrid.Registry.Gc;
using BuildGrid.Registry.Notifications;
using BuildGrid.Registry.Storage;
using BuildGrid.Registry.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace BuildGrid.Registry.Grpc;

/// <summary>
/// The buildgrid.registry.v1 API: validates, calls the store or the collector, maps rows to protos. Rights as on /v2/
/// (<see cref="RegistryAuth"/>): reads need guest in the namespace or a public repository — and are open to anonymous
/// callers, who see only public ones —; writes need developer, deletes, visibility and notifications owner. A
/// repository the caller may not read is reported as not found.
/// </summary>
public sealed partial class RegistryService(RegistryStore store, BlobStore blobs, GarbageCollector collector, NotificationStore notifications,
    [FromKeyedServices(NotificationOptions.Targets)] NetworkPolicy targets, NotificationSender sender, IOptions<NotificationOptions> notificationOptions,
    Proxy.ProxyCacheStore caches, Proxy.UpstreamUrls upstreamUrls) : V1.Registry.RegistryBase
{
    const int DefaultPageSize = 100;
    const int MaxPageSize = 1000;

    public override async Task<ListRepositoriesResponse> ListRepositories(ListRepositoriesRequest request, ServerCallContext context)
    {
        if (request.PageSize < 0)
            throw Errors.Invalid(Reasons.InvalidArgument, "page_size", "page_size must be 0 or more");
        var size = request.PageSize == 0 ? DefaultPageSize : Math.Min(request.PageSize, MaxPageSize);
        if (!System.Enum.IsDefined(request.Order))
            throw Errors.Invalid(Reasons.InvalidArgument, "order", "order must be REPOSITORY_ORDER_NAME or REPOSITORY_ORDER_CREATED");
        var byCreation = request.Order == RepositoryOrder.Created;
        var after = request.PageToken.Length == 0 ? null : DecodeListToken(request.PageToken, byCreation);
        var principal = Access.PrincipalOf(context);
        var visibleTo = principal.IsAdmin ? null
            : new RepositoryVisibility(!request.MemberOnly, principal.Roles.Where(r => r.Value >= Role.Guest).Select(r => r.Key).ToList(), []);
        var (items, total) = await store.ListRepositoriesAsync(after, size + 1, NullIfEmpty(request.NamePrefix),
            NullIfEmpty(request.NameContains), request.HasPublic ? request.Public : null, visibleTo, principal.Name, request.StarredOnly,
            byCreation, context.CancellationToken);
        // A page stops early once its descriptions pass the budget (at least one repository each): the page token goes on.
        var page = new List<RepositorySummary>();
        long descriptionBytes = 0;
        foreach (var item in items.Take(size))
        {
            var bytes = item.Description is null ? 0 : System.Text.Encoding.UTF8.GetByteCount(item.Description);
            if (page.Count > 0 && descriptionBytes + bytes > RepositoryLimits.ListDescriptionBudgetBytes)
                break;
            page.Add(item);
            descriptionBytes += bytes;
        }
        return new ListRepositoriesResponse
        {
            Repositories = { page.Select(ToProto) },
            NextPageToken = items.Count <= page.Count ? ""
                : byCreation ? EncodeToken(IdTokenPrefix + page[^1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture)) : EncodeToken(page[^1].Name),
            TotalSize = total,
        };
    }

    public override async Task<RegistryUsage> GetUsage(GetUsageRequest request, ServerCallContext context)
    {
        if (request.RecentPushes is < 0 or > 100)
            throw Errors.Invalid(Reasons.InvalidArgument, "recent_pushes", "recent_pushes must be 0 to 100");
        var principal = Access.PrincipalOf(context);
        var visibleTo = principal.IsAdmin ? null
            : new RepositoryVisibility(true, principal.Roles.Where(r => r.Value >= Role.Guest).Select(r => r.Key).ToList(), []);
        var (stored, repositories, tags, recent) = await store.UsageAsync(visibleTo, request.RecentPushes == 0 ? 10 : request.RecentPushes,
            context.CancellationToken);
        return new RegistryUsage
        {
            StoredBytes = stored, RepositoryCount = repositories, TagCount = tags,
            RecentPushes =
            {
                recent.Select(p => new Push { Repository = p.Repository, Tag = p.Tag, Digest = p.Digest, Size = p.Size, Time = Time(p.UpdatedAt) }),
            },
        };
    }

    public override async Task<ListNamespacesResponse> ListNamespaces(ListNamespacesRequest request, ServerCallContext context)
    {
        if (request.Page < 0 || request.PageSize < 0)
            throw Errors.Invalid(Reasons.InvalidArgument, request.Page < 0 ? "page" : "page_size", "page and page_size must be 0 or more");
        var size = request.PageSize == 0 ? 10 : Math.Min(request.PageSize, MaxPageSize);
        var offset = (long)(Math.Max(request.Page, 1) - 1) * size;
        if (offset > int.MaxValue)
            throw Errors.Invalid(Reasons.InvalidArgument, "page", "page is too large");
        var (items, total) = await store.ListNamespacesAsync((int)offset, size, NullIfEmpty(request.NameContains),
            MemberNamespaces(Access.PrincipalOf(context)), context.CancellationToken);
        return new ListNamespacesResponse { Namespaces = { items.Select(n => ToProto(n, Access.PrincipalOf(context))) }, TotalSize = total };
    }

    public override async Task<Namespace> GetNamespace(GetNamespaceRequest request, ServerCallContext context)
    {
        var row = await store.GetNamespaceAsync(request.Id, context.CancellationToken);
        // A private namespace is invisible to callers without a role in it, as a private Harbor project is.
        if (row is null || row.IsPublic == 0 && !Access.PrincipalOf(context).Can(row.Name, Role.Guest))
            throw Errors.NotFound(Reasons.NamespaceNotFound, "namespace", request.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return ToProto(row, Access.PrincipalOf(context));
    }

    /// <summary>The namespaces besides the public ones a principal may see; null: all of them (an admin).</summary>
    static List<string>? MemberNamespaces(Principal principal) =>
        principal.IsAdmin ? null : principal.Roles.Where(r => r.Value >= Role.Guest).Select(r => r.Key).ToList();

    /// <summary>A namespace as <paramref name="caller"/> may see it: without a role there, its private repositories are not counted.</summary>
    static Namespace ToProto(NamespaceRow row, Principal caller) => new()
    {
        Id = row.Id, Name = row.Name, Public = row.IsPublic != 0,
        RepositoryCount = caller.Can(row.Name, Role.Guest) ? row.RepositoryCount : row.PublicRepositoryCount,
        CreateTime = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(row.CreatedAt)),
        UpdateTime = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(row.UpdatedAt)),
    };

    public override async Task<Repository> GetRepository(GetRepositoryRequest request, ServerCallContext context)
    {
        ValidateRepository(request.Name, "name");
        var row = await store.GetRepositorySummaryAsync(request.Name, Access.PrincipalOf(context).Name, context.CancellationToken);
        if (row is null || !MayPull(context, request.Name, row.IsPublic != 0))
            throw Errors.NotFound(Reasons.RepositoryNotFound, "repository", request.Name);
        return ToProto(row);
    }

    public override async Task<Empty> SetStar(SetStarRequest request, ServerCallContext context)
    {
        ValidateRepository(request.Name, "name");
        var principal = Access.PrincipalOf(context);
        if (!principal.IsAuthenticated)
            throw Access.Unauthenticated("Stars belong to a user: starring needs credentials.");
        await RequireReadableAsync(context, request.Name);
        if (!await store.SetStarAsync(request.Name, principal.Name, request.Starred, context.CancellationToken))
            throw Errors.NotFound(Reasons.RepositoryNotFound, "repository", request.Name);
        return new Empty();
    }

    public override async Task<Empty> DeleteRepository(DeleteRepositoryRequest request, ServerCallContext context)
    {
        RequireRole(context, request.Name, "name", Role.Owner);
        if (!await store.DeleteRepositoryAsync(request.Name, OperatorOf(request.Operator, context), context.CancellationToken))
            throw Errors.NotFound(Reasons.RepositoryNotFound, "repository", request.Name);
        return new Empty();
    }

    public override async Task<ListTagsResponse> ListTags(ListTagsRequest request, ServerCallContext context)
    {
        ValidateRepository(request.Repository, "repository");
        if (request.PageSize < 0)
            throw Errors.Invalid(Reasons.InvalidArgument, "page_size", "page_size must be 0 or more");
        var repository = await RequireReadableAsync(context, request.Repository);
        var after = request.PageToken.Length == 0 ? null : DecodeToken(request.PageToken, "page_token");
        int? size = request.PageSize == 0 ? null : request.PageSize;
        var tags = await store.ListTagsAsync(repository.Id, after, size + 1, context.CancellationToken);
        var page = tags.Take(size ?? int.MaxValue).ToList();
        return new ListTagsResponse
        {
            Tags =
            {
                page.Select(t => new Tag
                {
                    Name = t.Name, Repository = request.Repository, Digest = t.Digest, MediaType = t.MediaType, Size = t.Size,
                    UpdateTime = Time(t.UpdatedAt),
                }),
            },
            NextPageToken = size is { } n && tags.Count > n ? EncodeToken(page[^1].Name) : "",
        };
    }

    public override async Task<Empty> DeleteTag(DeleteTagRequest request, ServerCallContext context)
    {
        RequireRole(context, request.Repository, "repository", Role.Owner);
        if (!OciNames.IsValidTag(request.Tag))
            throw Errors.Invalid(Reasons.InvalidName, "tag", $"'{Names.Shorten(request.Tag)}' is not a tag");
        await RequireRepositoryAsync(request.Repository, context.CancellationToken);
        if (!await store.DeleteTagAsync(request.Repository, request.Tag, OperatorOf(request.Operator, context), context.CancellationToken))
            throw Errors.NotFound(Reasons.TagNotFound, "tag", $"{request.Repository}:{request.Tag}");
        return new Empty();
    }

    public override async Task<Manifest> GetManifest(GetManifestRequest request, ServerCallContext context)
    {
        ValidateRepository(request.Repository, "repository");
        var reference = request.Reference;
        if (Digest.LooksLikeDigest(reference) ? !Digest.TryParse(reference, out _) : !OciNames.IsValidTag(reference))
            throw Errors.Invalid(Reasons.InvalidArgument, "reference", $"'{Names.Shorten(reference)}' is neither a tag nor a sha256 digest");
        var repository = await RequireReadableAsync(context, request.Repository);
        var row = await store.FindManifestAsync(repository.Id, reference, context.CancellationToken)
            ?? throw Errors.NotFound(Reasons.ManifestNotFound, "manifest", $"{request.Repository}@{reference}");
        var parsed = ParsedManifest.Parse(row.Content, row.MediaType);
        var manifest = new Manifest
        {
            Repository = request.Repository, Digest = row.Digest, MediaType = row.MediaType, Size = row.Size,
            Content = ByteString.CopyFrom(row.Content), Subject = parsed.Subject?.Digest.ToString() ?? "",
            ArtifactType = parsed.ArtifactType ?? "", CreateTime = Time(row.CreatedAt),
            Tags = { await store.TagsOfAsync(repository.Id, row.Digest, context.CancellationToken) },
            Layers = { parsed.Layers.Select(ToProto) },
            Manifests = { parsed.Manifests.Select(ToProto) },
        };
        foreach (var referrer in await store.ListReferrersAsync(repository.Id, Digest.Parse(row.Digest), null, context.CancellationToken))
        {
            var descriptor = new V1.ContentDescriptor { MediaType = referrer.MediaType, Digest = referrer.Digest, Size = referrer.Size, ArtifactType = referrer.ArtifactType ?? "" };
            if (referrer.Annotations is not null && System.Text.Json.JsonSerializer.Deserialize(referrer.Annotations, DistributionJson.Relaxed.DictionaryStringString) is { } annotations)
                descriptor.Annotations.Add(annotations);
            manifest.Referrers.Add(descriptor);
        }
        if (parsed.Config is { } config)
        {
            manifest.ConfigDescriptor = ToProto(config);
            if (request.IncludeConfig)
            {
                await using var file = blobs.OpenRead(config.Digest)
                    ?? throw Errors.NotFound(Reasons.ManifestNotFound, "config blob", config.Digest.ToString());
                manifest.Config = await ByteString.FromStreamAsync(file, context.CancellationToken);
            }
        }
        return manifest;
    }

    public override async Task<GarbageCollectionReport> RunGarbageCollection(RunGarbageCollectionRequest request, ServerCallContext context)
    {
        Access.RequireAdmin(context);
        TimeSpan? grace = null;
        if (request.GracePeriod is { } duration)
        {
            try
            {
                grace = duration.ToTimeSpan();
            }
            catch (InvalidOperationException)
            {
                // Seconds and nanos of different signs, or out of range: not a duration.
                throw Errors.Invalid(Reasons.InvalidArgument, "grace_period", "grace_period is not a valid duration");
            }
            if (grace < TimeSpan.Zero)
                throw Errors.Invalid(Reasons.InvalidArgument, "grace_period", "grace_period must not be negative");
        }
        var report = await collector.TryRunAsync(request.DryRun, grace, context.CancellationToken)
            ?? throw Errors.Create(Google.Rpc.Code.Aborted, Reasons.GcAlreadyRunning, "a garbage collection is already running; try again when it ends");
        return new GarbageCollectionReport
        {
            BlobsMarked = report.Marked, BlobsDeleted = report.Deleted.Count, BytesFreed = report.BytesFreed,
            UploadsExpired = report.UploadsExpired, StrayFilesDeleted = report.StrayFiles, DryRun = report.DryRun,
            DeletedDigests = { report.Deleted }, Duration = Duration.FromTimeSpan(report.Duration),
        };
    }

    async Task<RepositoryRow> RequireRepositoryAsync(string name, CancellationToken cancellationToken) =>
        await store.FindRepositoryAsync(name, cancellationToken) ?? throw Errors.NotFound(Reasons.RepositoryNotFound, "repository", name);

    static bool MayPull(ServerCallContext context, string repository, bool isPublic) =>
        RegistryAuth.ActionsOf(Access.PrincipalOf(context), repository, isPublic).Contains(RegistryAuth.Pull);

    /// <summary>The repository, when it exists and the caller may read it; otherwise not found (a private one's existence stays hidden).</summary>
    async Task<RepositoryRow> RequireReadableAsync(ServerCallContext context, string name)
    {
        var row = await store.FindRepositoryAsync(name, context.CancellationToken);
        if (row is null || !MayPull(context, name, row.IsPublic))
            throw Errors.NotFound(Reasons.RepositoryNotFound, "repository", name);
        return row;
    }

    /// <summary>Validates the name, then requires <paramref name="role"/> in its namespace (UNAUTHENTICATED or PERMISSION_DENIED).</summary>
    static void RequireRole(ServerCallContext context, string repository, string field, Role role)
    {
        ValidateRepository(repository, field);
        Access.Require(context, RegistryAuth.NamespaceOf(repository), role);
    }

    static void ValidateRepository(string name, string field)
    {
        if (!OciNames.IsValidRepository(name))
            throw Errors.Invalid(Reasons.InvalidName, field,
                $"'{Names.Shorten(name)}' is not an OCI repository name (lower-case a-z0-9 components joined by '.', '_', '__' or '-', separated by '/')");
    }

    /// <summary>The authenticated caller; only the protected-mode caller may name the operator in the request.</summary>
    static string OperatorOf(string @operator, ServerCallContext context) =>
        Access.Operator(context, @operator);

    static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    static string EncodeToken(string last) => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(last));

    /// <summary>
    /// A creation-order token holds the last id after this prefix; no repository name starts with it, so a token of one
    /// order is refused by the other instead of starting a page somewhere else.
    /// </summary>
    const string IdTokenPrefix = "#id:";

    static RepositoryKeyset DecodeListToken(string token, bool byCreation)
    {
        var last = DecodeToken(token, "page_token");
        var id = 0L;
        var isIdToken = last.StartsWith(IdTokenPrefix, StringComparison.Ordinal);
        if (isIdToken != byCreation || byCreation && !long.TryParse(last.AsSpan(IdTokenPrefix.Length), System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out id))
            throw Errors.Invalid(Reasons.InvalidArgument, "page_token", "the page token is not one this service issued");
        return byCreation ? new RepositoryKeyset(null, id) : new RepositoryKeyset(last, 0);
    }

    static string DecodeToken(string token, string field)
    {
        try
        {
            return System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(token));
        }
        catch (FormatException)
        {
            throw Errors.Invalid(Reasons.InvalidArgument, field, "the page token is not one this service issued");
        }
    }

    static Timestamp Time(long unixMs) => Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(unixMs));

    static Repository ToProto(RepositorySummary row) => new Repository
    {
        Name = row.Name, CreateTime = Time(row.CreatedAt), UpdateTime = Time(row.UpdatedAt), TagCount = row.TagCount,
        ManifestCount = row.ManifestCount, SizeBytes = row.SizeBytes, Public = row.IsPublic != 0, Starred = row.Starred != 0,
    }.WithOptional(row);

    static V1.ContentDescriptor ToProto(Domain.ContentDescriptor d) => new()
    {
        MediaType = d.MediaType, Digest = d.Digest.ToString(), Size = d.Size, ArtifactType = d.ArtifactType ?? "",
        Annotations = { d.Annotations.ToDictionary() }, Platform = d.Platform ?? "",
    };
}
