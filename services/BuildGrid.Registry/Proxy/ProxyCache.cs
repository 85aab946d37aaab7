using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Security.Cryptography;
using BuildGrid.Registry.Domain;
using BuildGrid.Registry.Storage;
using Microsoft.Extensions.Options;

namespace BuildGrid.Registry.Proxy;

/// <summary>
/// The pull-through cache behind /v2/ pulls of a cache namespace (distribution's <c>registry/proxy</c>): before the
/// distribution API serves a manifest or blob from its store, this puts it there. A manifest by digest or a blob is
/// fetched once, on its first pull, and served from the store afterwards; a tag is re-validated with a HEAD at most every
/// Registry:Proxy:TagRevalidateAfter and re-fetched only when it moved. When the upstream cannot be asked, what is
/// cached is served (as distribution's proxy tag service falls back to its local tags). Concurrent first pulls of one
/// blob share one download (single flight), which runs to the end even if the client that started it goes away.
/// </summary>
public sealed class ProxyCache(UpstreamClient upstreams, RegistryStore store, UploadStore uploads, BlobStore blobs, IOptionsMonitor<ProxyOptions> options,
    IOptionsMonitor<RegistryOptions> registryOptions, IHostApplicationLifetime lifetime, ILogger<ProxyCache> logger)
{
    static readonly string[] ManifestTypes = [MediaTypes.OciIndex, MediaTypes.DockerManifestList, MediaTypes.OciManifest, MediaTypes.DockerManifest];
    readonly ConcurrentDictionary<string, long> validated = new(StringComparer.Ordinal);
    // Lazy: GetOrAdd may run its factory on several racing threads and keep one result; only the kept Lazy starts a flight.
    readonly ConcurrentDictionary<string, Lazy<Task>> flights = new(StringComparer.Ordinal);

    /// <summary>The writes distribution refuses on a cache: push, tag, delete (UNSUPPORTED, 405).</summary>
    public static RegistryException WriteRefused(string name) =>
        new(RegistryError.Unsupported, "the operation is unsupported",
            $"'{RegistryAuthNamespace(name)}' is a pull-through cache of an upstream registry: its repositories cannot be pushed to or deleted through /v2/");

    static string RegistryAuthNamespace(string name) => Distribution.RegistryAuth.NamespaceOf(name);

    /// <summary>The upstream's name of a cached repository: without the cache namespace; Docker Hub's official images under library/.</summary>
    static string UpstreamRepository(Upstream upstream, string name)
    {
        var slash = name.IndexOf('/');
        if (slash < 0)
            throw new RegistryException(RegistryError.NameUnknown, "repository name not known to registry",
                $"'{name}' is the cache namespace itself; pull <namespace>/<repository> (such as {name}/library/alpine)");
        var repository = name[(slash + 1)..];
        var dockerHub = upstream.Url.Host is "registry-1.docker.io" or "docker.io" or "index.docker.io";
        return dockerHub && !repository.Contains('/') ? "library/" + repository : repository;
    }

    /// <summary>Makes sure the manifest <paramref name="reference"/> of <paramref name="name"/> is stored, fetching it when it must.</summary>
    public async Task PrepareManifestAsync(Upstream upstream, string name, string reference, CancellationToken cancellationToken)
    {
        var repository = UpstreamRepository(upstream, name);
        var row = await store.FindRepositoryAsync(name, cancellationToken);
        var local = row is null ? null : await store.FindManifestAsync(row.Id, reference, cancellationToken);
        if (Digest.LooksLikeDigest(reference))
        {
            if (local is null)
                await FetchManifestAsync(upstream, name, repository, reference, null, cancellationToken);
            return;
        }
        var key = $"{upstream.Namespace}\n{name}:{reference}";
        if (local is not null && validated.TryGetValue(key, out var at)
            && Environment.TickCount64 - at < options.CurrentValue.TagRevalidateAfter.TotalMilliseconds)
            return;
        try
        {
            string? current = null;
            using (var head = await upstreams.SendAsync(upstream, HttpMethod.Head, repository, $"manifests/{reference}", ManifestTypes, cancellationToken))
            {
                if (head.StatusCode == HttpStatusCode.NotFound)
                    throw new RegistryException(RegistryError.ManifestUnknown, "manifest unknown to registry",
                        $"{name}:{reference} (the upstream {upstream.Url} has no such tag)");
                if (!head.IsSuccessStatusCode)
                    throw new UpstreamUnavailableException($"{upstream.Url} answered {(int)head.StatusCode} to HEAD {repository}:{reference}");
                if (head.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault() ?? "", out var digest))
                    current = digest.Value.ToString();
            }
            if (local is null || current != local.Digest)
                await FetchManifestAsync(upstream, name, repository, current ?? reference, reference, cancellationToken);
            validated[key] = Environment.TickCount64;
        }
        catch (Exception e) when (local is not null && e is UpstreamUnavailableException or RegistryException)
        {
            // distribution's proxy tag service: when the upstream cannot say, the tag as cached.
            ProxyLog.ServedStale(logger, name, reference, e.Message);
        }
        catch (UpstreamUnavailableException e)
        {
            throw Unavailable(name, reference, e);
        }
    }

    static RegistryException Unavailable(string name, string what, UpstreamUnavailableException e) =>
        new(RegistryError.Unavailable, "the upstream registry is unavailable", $"{name}: {what} is not cached and {e.Message}");

    async Task FetchManifestAsync(Upstream upstream, string name, string repository, string reference, string? tag, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await upstreams.SendAsync(upstream, HttpMethod.Get, repository, $"manifests/{reference}", ManifestTypes, cancellationToken);
            if (response.StatusCode == HttpStatusCode.NotFound)
                throw new RegistryException(RegistryError.ManifestUnknown, "manifest unknown to registry",
                    $"{name}:{Names.Shorten(reference)} (the upstream {upstream.Url} has no such manifest)");
            if (!response.IsSuccessStatusCode)
                throw new UpstreamUnavailableException($"{upstream.Url} answered {(int)response.StatusCode} to GET {repository} manifest {reference}");
            var max = registryOptions.CurrentValue.MaxManifestSize;
            if (response.Content.Headers.ContentLength > max)
                throw new UpstreamUnavailableException($"{upstream.Url} sent a manifest over Registry:MaxManifestSize ({max} bytes)");
            var content = await ReadLimitedAsync(await response.Content.ReadAsStreamAsync(cancellationToken), max, upstream, cancellationToken);
            var digest = Digest.Of(content);
            if (Digest.LooksLikeDigest(reference) && digest.ToString() != reference)
                throw new UpstreamUnavailableException($"{upstream.Url} sent a manifest whose digest is {digest}, not {reference}");
            var manifest = ParsedManifest.Parse(content, response.Content.Headers.ContentType?.MediaType);
            await store.PutCachedManifestAsync(name, tag, digest, content, manifest, CancellationToken.None);
            ProxyLog.ManifestCached(logger, name, tag ?? reference, digest.ToString(), upstream.Url.ToString());
        }
        catch (UpstreamUnavailableException e) when (tag is null)
        {
            throw Unavailable(name, reference, e);
        }
    }

    static async Task<byte[]> ReadLimitedAsync(Stream body, int max, Upstream upstream, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > max)
                throw new UpstreamUnavailableException($"{upstream.Url} sent a manifest over Registry:MaxManifestSize ({max} bytes)");
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    /// <summary>Makes sure the blob is stored and linked to <paramref name="name"/>, fetching it (once for concurrent pulls) when it must.</summary>
    public async Task PrepareBlobAsync(Upstream upstream, string name, Digest digest, CancellationToken cancellationToken)
    {
        if (await IsServableAsync(name, digest, cancellationToken))
            return;
        var key = $"{name}@{digest}";
        var flight = flights.GetOrAdd(key, _ => new Lazy<Task>(() => FlyAsync(key, upstream, name, digest)));
        await flight.Value.WaitAsync(cancellationToken);
    }

    async Task<bool> IsServableAsync(string name, Digest digest, CancellationToken cancellationToken) =>
        await store.FindRepositoryAsync(name, cancellationToken) is { } row
        && await store.FindLinkedBlobAsync(row.Id, digest, cancellationToken) is { } size
        && blobs.LengthOf(digest) == size;

    async Task FlyAsync(string key, Upstream upstream, string name, Digest digest)
    {
        await Task.Yield();   // out of GetOrAdd before the flight starts
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping);
            timeout.CancelAfter(options.CurrentValue.BlobTimeout);
            await FetchBlobAsync(upstream, name, digest, timeout.Token);
        }
        finally
        {
            flights.TryRemove(key, out _);
        }
    }

    async Task FetchBlobAsync(Upstream upstream, string name, Digest digest, CancellationToken ct)
    {
        if (await IsServableAsync(name, digest, ct))
            return;   // a flight that ended just before this one began
        var uploadId = Guid.NewGuid().ToString("N");
        var file = blobs.UploadPath($"{uploadId}.proxy");
        var linked = false;
        try
        {
            // The session's claim keeps collections off the digest while the bytes arrive (as a monolithic upload's does).
            await uploads.ClaimMonolithicAsync(uploadId, name, digest, ct);
            // The same bytes cached for another repository, and named by a manifest this repository cached: link them.
            if (blobs.LengthOf(digest) is { } existing && await store.IsReferencedAsync(name, digest, ct))
            {
                using (await blobs.LockDigestAsync(digest, ct))
                {
                    if (blobs.LengthOf(digest) == existing)
                    {
                        await store.LinkBlobAsync(name, digest, existing, "proxy-cache", uploadId, CancellationToken.None);
                        linked = true;
                        return;
                    }
                }
            }
            var repository = UpstreamRepository(upstream, name);
            using var response = await upstreams.SendAsync(upstream, HttpMethod.Get, repository, $"blobs/{digest}", [], ct);
            if (response.StatusCode == HttpStatusCode.NotFound)
                throw new RegistryException(RegistryError.BlobUnknown, "blob unknown to registry",
                    $"{digest} (the upstream {upstream.Url} has no such blob in {repository})");
            if (!response.IsSuccessStatusCode)
                throw new UpstreamUnavailableException($"{upstream.Url} answered {(int)response.StatusCode} to GET {repository} blob {digest}");
            var max = registryOptions.CurrentValue.MaxBlobSize;
            if (response.Content.Headers.ContentLength > max)
                throw BlobStore.TooLarge(max);
            await using (File.Create(file)) { }
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var body = PipeReader.Create(await response.Content.ReadAsStreamAsync(ct), new StreamPipeReaderOptions(bufferSize: 1024 * 1024));
            var size = await blobs.AppendAsync(file, body, hash, ct);
            await body.CompleteAsync();
            var actual = new Digest(Convert.ToHexStringLower(hash.GetHashAndReset()));
            if (actual != digest)
                throw new UpstreamUnavailableException($"{upstream.Url} sent bytes whose digest is {actual}, not {digest}");
            using (await blobs.LockDigestAsync(digest, ct))
            {
                blobs.Commit(file, digest);
                await store.LinkBlobAsync(name, digest, size, "proxy-cache", uploadId, CancellationToken.None);
            }
            linked = true;
            ProxyLog.BlobCached(logger, name, digest.ToString(), size, upstream.Url.ToString());
        }
        catch (UpstreamUnavailableException e)
        {
            throw Unavailable(name, digest.ToString(), e);
        }
        finally
        {
            TryDelete(file);
            if (!linked)
                await uploads.DeleteUploadAsync(uploadId, CancellationToken.None);
        }
    }

    void TryDelete(string file)
    {
        try
        {
            File.Delete(file);
        }
        catch (IOException e)
        {
            ProxyLog.DeleteFailed(logger, file, e);
        }
    }
}

internal static partial class ProxyLog
{
    [LoggerMessage(40, LogLevel.Information, "Proxy cache: {Repository}:{Reference} = {Digest} fetched from {Upstream}")]
    public static partial void ManifestCached(ILogger logger, string repository, string reference, string digest, string upstream);

    [LoggerMessage(41, LogLevel.Information, "Proxy cache: {Repository}@{Digest} ({Size} bytes) fetched from {Upstream}")]
    public static partial void BlobCached(ILogger logger, string repository, string digest, long size, string upstream);

    [LoggerMessage(42, LogLevel.Warning, "Proxy cache: {Repository}:{Tag} served as cached; the upstream could not re-validate it: {Reason}")]
    public static partial void ServedStale(ILogger logger, string repository, string tag, string reason);

    [LoggerMessage(43, LogLevel.Warning, "Proxy cache: could not delete file {Path}")]
    public static partial void DeleteFailed(ILogger logger, string path, Exception exception);
}
