using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using BuildGrid.Core.Contracts;
using BuildGrid.Core.Events;
using BuildGrid.Core.Identity;
using BuildGrid.Registry.Domain;
using BuildGrid.Registry.Storage;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace BuildGrid.Registry.Distribution;

/// <summary>
/// The OCI distribution API v1.1 under <c>/v2/</c>: one endpoint that parses the path (repository names contain
/// slashes, so the route is <c>/v2/{**path}</c>) and dispatches to the handlers here and in the Blobs part.
/// </summary>
public sealed partial class DistributionApi(RegistryStore store, UploadStore uploads, BlobStore blobs, UploadHashes hashes, RegistryAuth auth,
    AuditTrail audit, IOptionsMonitor<RegistryOptions> options, ILogger<DistributionApi> logger, Proxy.ProxyCacheStore caches, Proxy.ProxyCache proxy)
{
    public static readonly string[] Methods = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"];
    const string JsonType = "application/json; charset=utf-8";

    [GeneratedRegex(@"^(?<name>.+)/(?:(?<tags>tags/list)|manifests/(?<manifest>[^/]+)|blobs/uploads/(?<upload>[^/]*)|blobs/(?<blob>[^/]+)|referrers/(?<referrer>[^/]+))$",
        RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture)]
    private static partial Regex Route();

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        response.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
        try
        {
            // Request.Path is decoded except for %2F, which stays escaped and so fails the name check below.
            var path = request.Path.Value ?? "";
            var rest = path.Length > 4 ? path[4..] : "";
            if (rest.Length == 0)
            {
                RequireMethod(request, "GET", "HEAD");
                // The version check doubles as the login check: without credentials (outside protected mode) it answers
                // the challenge that sends clients to the token endpoint.
                var caller = await auth.CallerOfAsync(context)
                    ?? throw RegistryAuth.Challenge(context, null, "the credentials are wrong, expired or revoked", invalidToken: true);
                if (caller.Principal.Kind == BuildGrid.Core.Identity.PrincipalKind.Anonymous && caller.Grant is null)
                    throw RegistryAuth.Challenge(context, null, "log in, or fetch an anonymous token from the realm");
                await WriteJsonAsync(response, "{}"u8.ToArray());
                return;
            }
            if (rest == "token" || path == "/service/token")
            {
                await auth.TokenAsync(context, async (name, ct) => (await store.FindRepositoryAsync(name, ct))?.IsPublic);
                return;
            }
            if (rest == "_catalog")
            {
                RequireMethod(request, "GET");
                await CatalogAsync(context);
                return;
            }
            var match = Route().Match(rest);
            if (!match.Success)
                throw new RegistryException(RegistryError.NameUnknown, "unknown /v2/ endpoint",
                    $"'{Names.Shorten(path)}' is not a distribution API path");
            var name = match.Groups["name"].Value;
            Names.ValidateRepository(name);
            var method = request.Method;
            await AuthorizeAsync(context, name, match.Groups["upload"].Success ? RegistryAuth.Push
                : HttpMethods.IsGet(method) || HttpMethods.IsHead(method) ? RegistryAuth.Pull
                : HttpMethods.IsDelete(method) ? RegistryAuth.Delete : RegistryAuth.Push);
            // A pull-through cache namespace: writes are refused, pulls first fill the store from the upstream.
            if (await caches.FindAsync(name, context.RequestAborted) is { } upstream)
            {
                var read = HttpMethods.IsGet(method) || HttpMethods.IsHead(method);
                if (!read || match.Groups["upload"].Success)
                    throw Proxy.ProxyCache.WriteRefused(name);
                if (match.Groups["manifest"].Success)
                    await proxy.PrepareManifestAsync(upstream, name, LookupReference(name, match.Groups["manifest"].Value), context.RequestAborted);
                else if (match.Groups["blob"].Success)
                    await proxy.PrepareBlobAsync(upstream, name, Digest.Parse(match.Groups["blob"].Value), context.RequestAborted);
            }
            if (match.Groups["tags"].Success)
            {
                RequireMethod(request, "GET");
                await TagsAsync(context, name);
            }
            else if (match.Groups["manifest"].Success)
            {
                var reference = match.Groups["manifest"].Value;
                if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method)) await GetManifestAsync(context, name, reference);
                else if (HttpMethods.IsPut(method)) await PutManifestAsync(context, name, reference);
                else if (HttpMethods.IsDelete(method)) await DeleteManifestAsync(context, name, reference);
                else throw NotAllowed(method);
            }
            else if (match.Groups["upload"].Success)
            {
                var id = match.Groups["upload"].Value;
                if (id.Length == 0)
                {
                    RequireMethod(request, "POST");
                    await StartUploadAsync(context, name);
                }
                else if (HttpMethods.IsPatch(method)) await PatchUploadAsync(context, name, id);
                else if (HttpMethods.IsPut(method)) await FinishUploadAsync(context, name, id);
                else if (HttpMethods.IsGet(method)) await UploadStatusAsync(context, name, id);
                else if (HttpMethods.IsDelete(method)) await CancelUploadAsync(context, name, id);
                else throw NotAllowed(method);
            }
            else if (match.Groups["blob"].Success)
            {
                var digest = Digest.Parse(match.Groups["blob"].Value);
                if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method)) await GetBlobAsync(context, name, digest);
                else if (HttpMethods.IsDelete(method)) await DeleteBlobAsync(context, name, digest);
                else throw NotAllowed(method);
            }
            else
            {
                RequireMethod(request, "GET");
                await ReferrersAsync(context, name, match.Groups["referrer"].Value);
            }
        }
        catch (RegistryException e) when (!response.HasStarted)
        {
            await OciErrors.WriteAsync(response, e);
        }
        catch (Exception e) when (!response.HasStarted && BlobStore.IsDiskFull(e))
        {
            Log.RequestFailed(logger, request.Method, request.Path.Value ?? "", e);
            response.Clear();
            response.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
            await OciErrors.WriteAsync(response, BlobStore.DiskFull());
        }
        catch (Exception e) when (context.RequestAborted.IsCancellationRequested
            || e is BadHttpRequestException or Microsoft.AspNetCore.Connections.ConnectionResetException)
        {
            // The client went away or sent a broken body (shorter than its Content-Length): nothing was committed.
            Log.ClientAborted(logger, request.Method, request.Path.Value ?? "");
            if (!response.HasStarted && !context.RequestAborted.IsCancellationRequested)
                await OciErrors.WriteAsync(response, new RegistryException(RegistryError.BlobUploadInvalid, "blob upload invalid",
                    e.Message));
        }
        catch (Exception e) when (!response.HasStarted)
        {
            Log.RequestFailed(logger, request.Method, request.Path.Value ?? "", e);
            response.Clear();
            response.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
            await OciErrors.WriteAsync(response, new RegistryException(RegistryError.Unknown, "unknown error", "see the registry's log"));
        }
    }

    static void RequireMethod(HttpRequest request, params string[] methods)
    {
        if (!methods.Contains(request.Method, StringComparer.OrdinalIgnoreCase))
        {
            request.HttpContext.Response.Headers.Allow = string.Join(", ", methods);
            throw NotAllowed(request.Method);
        }
    }

    static RegistryException NotAllowed(string method) =>
        new(RegistryError.Unsupported, "the operation is unsupported", $"method {method} is not allowed here");

    /// <summary>Who pushes or deletes: the authenticated caller (see <see cref="RegistryAuth"/>).</summary>
    /// <summary>A /v2/ write in the audit log (pushes and deletes of manifests and tags), as gRPC writes are by AuditInterceptor.</summary>
    Task AuditAsync(HttpContext context, string action, string name, string resource)
    {
        var principal = RegistryAuth.ResolvedCaller(context)?.Principal ?? Principal.Anonymous;
        var slash = name.IndexOf('/');
        return audit.RecordAsync(RegistryExtensions.AppId, audit.Entry(RegistryExtensions.AppId, principal, action,
            slash > 0 ? name[..slash] : "", resource, context.Connection.RemoteIpAddress?.ToString() ?? "", context.TraceIdentifier));
    }

    static string OperatorOf(HttpContext context) => RegistryAuth.ResolvedCaller(context)?.Principal.Name ?? "anonymous";

    /// <summary>
    /// Lets the request through when the caller may do <paramref name="action"/> on the repository. Otherwise: no
    /// credentials at all get the token flow's 401 challenge with the scope needed; a caller that authenticated but may
    /// not pull finds no such repository (404 NAME_UNKNOWN, as Quay hides private repositories); one that may see it
    /// but not change it gets 403 DENIED (401 while anonymous, so that clients ask for a login).
    /// </summary>
    async Task AuthorizeAsync(HttpContext context, string name, string action)
    {
        var scope = $"repository:{name}:{(action == RegistryAuth.Push ? "pull,push" : action)}";
        var caller = await auth.CallerOfAsync(context)
            ?? throw RegistryAuth.Challenge(context, scope, "the credentials are wrong, expired or revoked", invalidToken: true);
        var isPublic = (await store.FindRepositoryAsync(name, context.RequestAborted))?.IsPublic == true;
        if (RegistryAuth.Allows(caller, name, isPublic, action))
            return;
        if (!caller.PresentedCredentials || action != RegistryAuth.Pull && !caller.Principal.IsAuthenticated)
            throw RegistryAuth.Challenge(context, scope, $"{action} of '{name}' needs credentials");
        if (action == RegistryAuth.Pull)
            throw new RegistryException(RegistryError.NameUnknown, "repository name not known to registry", name);
        throw new RegistryException(RegistryError.Denied, "requested access to the resource is denied",
            $"{caller.Principal.Name} may not {action} '{name}'");
    }

    /// <summary>Whether the caller may read another repository (the source of a cross-repository mount).</summary>
    async Task<bool> MayPullAsync(HttpContext context, string repository)
    {
        var row = await store.FindRepositoryAsync(repository, context.RequestAborted);
        return row is not null && await auth.CallerOfAsync(context) is { } caller && RegistryAuth.Allows(caller, repository, row.IsPublic, RegistryAuth.Pull);
    }

    async Task<RepositoryRow> RequireRepositoryAsync(string name, CancellationToken cancellationToken) =>
        await store.FindRepositoryAsync(name, cancellationToken)
        ?? throw new RegistryException(RegistryError.NameUnknown, "repository name not known to registry", name);

    /// <summary>The <c>n</c> query parameter: null when absent; PAGINATION_NUMBER_INVALID when not a count.</summary>
    int? PageSize(HttpRequest request)
    {
        if (!request.Query.TryGetValue("n", out var values) || StringValues.IsNullOrEmpty(values))
            return null;
        if (!int.TryParse(values.ToString(), System.Globalization.NumberStyles.None, null, out var n))
            throw new RegistryException(RegistryError.PaginationNumberInvalid, "invalid number of results requested",
                $"n must be a non-negative integer, not '{Names.Shorten(values.ToString())}'");
        return Math.Min(n, options.CurrentValue.MaxPageSize);
    }

    static string? Last(HttpRequest request) =>
        request.Query.TryGetValue("last", out var last) && !StringValues.IsNullOrEmpty(last) ? last.ToString() : null;

    async Task CatalogAsync(HttpContext context)
    {
        var request = context.Request;
        var n = PageSize(request) ?? Math.Min(100, options.CurrentValue.MaxPageSize);
        var last = Last(request);
        var caller = await auth.CallerOfAsync(context)
            ?? throw RegistryAuth.Challenge(context, "registry:catalog:*", "the credentials are wrong, expired or revoked", invalidToken: true);
        var names = n == 0 ? [] : await store.ListRepositoryNamesAsync(last, n + 1, RegistryAuth.VisibleTo(caller), context.RequestAborted);
        var page = names.Take(n).ToList();
        if (names.Count > n)
            context.Response.Headers.Link = $"</v2/_catalog?n={n}&last={Uri.EscapeDataString(page[^1])}>; rel=\"next\"";
        await WriteJsonAsync(context.Response, JsonSerializer.SerializeToUtf8Bytes(new CatalogBody(page), DistributionJson.Relaxed.CatalogBody));
    }

    async Task TagsAsync(HttpContext context, string name)
    {
        var request = context.Request;
        var repository = await RequireRepositoryAsync(name, context.RequestAborted);
        var n = PageSize(request);
        var last = Last(request);
        var tags = n == 0 ? [] : await store.ListTagsAsync(repository.Id, last, n + 1, context.RequestAborted);
        var page = tags.Take(n ?? int.MaxValue).Select(t => t.Name).ToList();
        if (n is { } size && tags.Count > size)
            context.Response.Headers.Link = $"</v2/{name}/tags/list?n={size}&last={Uri.EscapeDataString(page[^1])}>; rel=\"next\"";
        await WriteJsonAsync(context.Response, JsonSerializer.SerializeToUtf8Bytes(new TagListBody(name, page), DistributionJson.Relaxed.TagListBody));
    }

    /// <summary>Validates a manifest reference to push: a digest (sha256) or a tag.</summary>
    static string ValidateReference(string reference)
    {
        if (Digest.LooksLikeDigest(reference))
            return Digest.Parse(reference).ToString();
        Names.ValidateTag(reference);
        return reference;
    }

    /// <summary>
    /// A manifest reference to read or delete. A tag that could never be pushed names nothing: 404 MANIFEST_UNKNOWN, as the
    /// conformance suite asks of <c>.INVALID_MANIFEST_NAME</c> (distribution's route does not match it either).
    /// </summary>
    static string LookupReference(string name, string reference) =>
        Digest.LooksLikeDigest(reference) || OciNames.IsValidTag(reference) ? ValidateReference(reference) : throw ManifestUnknown(name, reference);

    static RegistryException ManifestUnknown(string name, string reference) =>
        new(RegistryError.ManifestUnknown, "manifest unknown to registry", $"{name}:{Names.Shorten(reference)}");

    async Task GetManifestAsync(HttpContext context, string name, string reference)
    {
        reference = LookupReference(name, reference);
        var repository = await RequireRepositoryAsync(name, context.RequestAborted);
        var manifest = await store.FindManifestAsync(repository.Id, reference, context.RequestAborted)
            ?? throw ManifestUnknown(name, reference);
        if (!Accepts(context.Request, manifest.MediaType, Digest.LooksLikeDigest(reference)))
            manifest = await DefaultPlatformAsync(context, repository.Id, manifest)
                ?? throw new RegistryException(RegistryError.ManifestUnknown, "manifest unknown to registry",
                    $"the manifest is {manifest.MediaType}, which the Accept header does not allow");
        var response = context.Response;
        response.Headers["Docker-Content-Digest"] = manifest.Digest;
        response.Headers.ETag = $"\"{manifest.Digest}\"";
        if (NotModified(context, manifest.Digest))
            return;
        response.ContentType = manifest.MediaType;
        response.ContentLength = manifest.Content.Length;
        if (!HttpMethods.IsHead(context.Request.Method))
            await response.Body.WriteAsync(manifest.Content, context.RequestAborted);
    }

    /// <summary>
    /// Content negotiation as distribution does it: an OCI manifest or index is served to a client that accepts its type;
    /// a Docker schema 2 manifest whatever the client accepts, and so a Docker manifest list named by digest (by tag, a
    /// client that takes no lists gets its linux/amd64 image, <see cref="DefaultPlatformAsync"/>). More lenient than
    /// distribution: no Accept header or a wildcard serves any manifest as stored. BuildGrid never converts between
    /// formats, so a client that accepts none of them gets MANIFEST_UNKNOWN (as distribution answers).
    /// </summary>
    static bool Accepts(HttpRequest request, string mediaType, bool byDigest) =>
        mediaType == MediaTypes.DockerManifest || (mediaType == MediaTypes.DockerManifestList && byDigest) || AcceptHeaderAllows(request, mediaType);

    /// <summary>Whether the Accept header allows the type: absent, unreadable, a wildcard or the type itself.</summary>
    static bool AcceptHeaderAllows(HttpRequest request, string mediaType)
    {
        var accept = request.Headers.Accept;
        if (StringValues.IsNullOrEmpty(accept) || !MediaTypeHeaderValue.TryParseList(accept, out var types))
            return true;
        return types.Any(t => t.MediaType.Equals("*/*", StringComparison.Ordinal)
            || t.MediaType.Equals("application/*", StringComparison.Ordinal)
            || t.MediaType.Equals(mediaType, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// A Docker manifest list asked for by tag by a client that takes no lists: its linux/amd64 image, which distribution
    /// serves to such (older) clients; null for other types, when the list names none, or when the client does not list
    /// that image's type either (distribution, too, serves the schema 2 image only to a client that asks for schema 2).
    /// </summary>
    async Task<ManifestRow?> DefaultPlatformAsync(HttpContext context, long repositoryId, ManifestRow list)
    {
        if (list.MediaType != MediaTypes.DockerManifestList)
            return null;
        var entry = ParsedManifest.Parse(list.Content, list.MediaType).Manifests
            .FirstOrDefault(m => m.Platform is "linux/amd64" || m.Platform?.StartsWith("linux/amd64/", StringComparison.Ordinal) == true);
        var image = entry is null ? null : await store.FindManifestAsync(repositoryId, entry.Digest.ToString(), context.RequestAborted);
        return image is not null && AcceptHeaderAllows(context.Request, image.MediaType) ? image : null;
    }

    /// <summary>
    /// A GET or HEAD whose If-None-Match names the content's digest (quoted or not, as distribution compares; weak or
    /// not) or is *: answered 304 Not Modified without a body, as distribution does. The caller has set ETag and
    /// Docker-Content-Digest.
    /// </summary>
    static bool NotModified(HttpContext context, string digest)
    {
        var quoted = $"\"{digest}\"";
        var match = context.Request.Headers.IfNoneMatch.SelectMany(v => (v ?? "").Split(','))
            .Select(t => t.Trim()).Select(t => t.StartsWith("W/", StringComparison.Ordinal) ? t[2..] : t)
            .Any(t => t == quoted || t == digest || t == "*");
        if (match)
            context.Response.StatusCode = StatusCodes.Status304NotModified;
        return match;
    }

    async Task PutManifestAsync(HttpContext context, string name, string reference)
    {
        reference = ValidateReference(reference);
        var max = options.CurrentValue.MaxManifestSize;
        var request = context.Request;
        LiftBodyLimit(context);
        if (request.ContentLength > max)
            throw new RegistryException(RegistryError.TooLarge, "manifest too large", $"manifests are limited to {max} bytes (Registry:MaxManifestSize)");
        var content = await ReadLimitedAsync(request.Body, max, context.RequestAborted);
        var digest = Digest.Of(content);
        if (Digest.LooksLikeDigest(reference) && reference != digest.ToString())
            throw new RegistryException(RegistryError.DigestInvalid, "provided digest did not match uploaded content",
                $"the manifest's digest is {digest}, not {reference}");
        var manifest = ParsedManifest.Parse(content, request.ContentType);
        var byDigest = Digest.LooksLikeDigest(reference);
        var tags = byDigest ? TagParameters(request) : [reference];
        await store.PutManifestAsync(name, tags, digest, content, manifest, OperatorOf(context), context.RequestAborted);
        foreach (var tag in tags)
            Log.ImagePushed(logger, name, tag, digest.ToString());
        await AuditAsync(context, "registry.push", name, tags.Count > 0 ? $"{name}:{string.Join(',', tags)}@{digest}" : $"{name}@{digest}");
        var response = context.Response;
        if (byDigest && tags.Count > 0)
            response.Headers["OCI-Tag"] = tags.ToArray();
        response.StatusCode = StatusCodes.Status201Created;
        response.Headers.Location = $"/v2/{name}/manifests/{digest}";
        response.Headers["Docker-Content-Digest"] = digest.ToString();
        if (manifest.Subject is { } subject)
            response.Headers["OCI-Subject"] = subject.Digest.ToString();
        response.ContentLength = 0;
    }

    /// <summary>
    /// <c>PUT /manifests/&lt;digest&gt;?tag=a&amp;tag=b</c> (spec 1.1, end-7b): the tags to point at the manifest in the same
    /// transaction. Each accepted tag is answered in an <c>OCI-Tag</c> header.
    /// </summary>
    static List<string> TagParameters(HttpRequest request)
    {
        const int MaxTags = 100;
        var tags = request.Query["tag"].Where(t => !string.IsNullOrEmpty(t)).Select(t => t!).Distinct(StringComparer.Ordinal).ToList();
        if (tags.Count > MaxTags)
            throw new RegistryException(RegistryError.TagInvalid, "too many tags", $"at most {MaxTags} tag parameters per request");
        foreach (var tag in tags)
            Names.ValidateTag(tag);
        return tags;
    }

    static async Task<byte[]> ReadLimitedAsync(Stream body, int max, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > max)
                throw new RegistryException(RegistryError.TooLarge, "manifest too large", $"manifests are limited to {max} bytes (Registry:MaxManifestSize)");
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    async Task DeleteManifestAsync(HttpContext context, string name, string reference)
    {
        reference = LookupReference(name, reference);
        await RequireRepositoryAsync(name, context.RequestAborted);
        var @operator = OperatorOf(context);
        var deleted = Digest.LooksLikeDigest(reference)
            ? await store.DeleteManifestAsync(name, Digest.Parse(reference), @operator, context.RequestAborted)
            : await store.DeleteTagAsync(name, reference, @operator, context.RequestAborted);
        if (!deleted)
            throw ManifestUnknown(name, reference);
        await AuditAsync(context, "registry.delete", name, Digest.LooksLikeDigest(reference) ? $"{name}@{reference}" : $"{name}:{reference}");
        context.Response.StatusCode = StatusCodes.Status202Accepted;
        context.Response.ContentLength = 0;
    }

    async Task ReferrersAsync(HttpContext context, string name, string subjectText)
    {
        var subject = Digest.Parse(subjectText);
        var artifactType = context.Request.Query.TryGetValue("artifactType", out var filter) && !StringValues.IsNullOrEmpty(filter)
            ? filter.ToString() : null;
        // An unknown repository has no referrers: 200 with an empty index. A 404 here would tell clients that the
        // registry lacks the referrers API and send them to the tag-schema fallback.
        var repository = await store.FindRepositoryAsync(name, context.RequestAborted);
        var rows = repository is null ? [] : await store.ListReferrersAsync(repository.Id, subject, artifactType, context.RequestAborted);
        var descriptors = rows.Select(r => new ReferrerDescriptor(r.MediaType, r.Digest, r.Size, r.ArtifactType,
            r.Annotations is null ? null : JsonSerializer.Deserialize(r.Annotations, DistributionJson.Relaxed.DictionaryStringString))).ToList();
        if (artifactType is not null)
            context.Response.Headers["OCI-Filters-Applied"] = "artifactType";
        await WriteJsonAsync(context.Response, JsonSerializer.SerializeToUtf8Bytes(
            new ReferrersIndex(2, MediaTypes.OciIndex, descriptors), DistributionJson.Relaxed.ReferrersIndex), MediaTypes.OciIndex);
    }

    static async Task WriteJsonAsync(HttpResponse response, byte[] body, string contentType = JsonType)
    {
        response.ContentType = contentType;
        response.ContentLength = body.Length;
        if (!HttpMethods.IsHead(response.HttpContext.Request.Method))
            await response.Body.WriteAsync(body, response.HttpContext.RequestAborted);
    }

    static void LiftBodyLimit(HttpContext context)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
            feature.MaxRequestBodySize = null;   // uploads stream to disk; Registry:MaxBlobSize is enforced while copying
    }
}
