using System.Globalization;
using BuildGrid.Core.Contracts;
using BuildGrid.Registry.Domain;
using BuildGrid.Registry.Storage;
using Microsoft.Extensions.Primitives;

namespace BuildGrid.Registry.Distribution;

/// <summary>Blobs: pull with ranges, monolithic and chunked uploads, cross-repository mount, delete.</summary>
public sealed partial class DistributionApi
{
    async Task GetBlobAsync(HttpContext context, string name, Digest digest)
    {
        var repository = await RequireRepositoryAsync(name, context.RequestAborted);
        var size = await store.FindLinkedBlobAsync(repository.Id, digest, context.RequestAborted);
        await using var file = size is null ? null : blobs.OpenRead(digest);
        // A file of another size than the blob's (cut short by a power loss with Registry:SyncBlobs off) is not the blob:
        // it is unknown, so that the client pushes it again, which replaces the file (BlobStore.Commit).
        if (file is null || file.Length != size)
            throw new RegistryException(RegistryError.BlobUnknown, "blob unknown to registry", digest.ToString());
        var response = context.Response;
        var length = size.Value;
        response.Headers["Docker-Content-Digest"] = digest.ToString();
        response.Headers.ETag = $"\"{digest}\"";
        if (NotModified(context, digest.ToString()))
            return;
        response.Headers.AcceptRanges = "bytes";
        response.ContentType = "application/octet-stream";
        long start = 0, count = length;
        if (ParseRange(context.Request.Headers.Range, length) is { } range)
        {
            if (range.Start < 0)
            {
                response.StatusCode = StatusCodes.Status416RangeNotSatisfiable;
                response.Headers.ContentRange = $"bytes */{length}";
                response.ContentLength = 0;
                return;
            }
            (start, count) = (range.Start, range.End - range.Start + 1);
            response.StatusCode = StatusCodes.Status206PartialContent;
            response.Headers.ContentRange = $"bytes {range.Start}-{range.End}/{length}";
        }
        response.ContentLength = count;
        if (HttpMethods.IsHead(context.Request.Method) || count == 0)
            return;
        file.Seek(start, SeekOrigin.Begin);
        // Read straight into the response pipe's buffers: no copy in between, and Kestrel sends one chunk to the socket
        // while the next is read from disk.
        var writer = response.BodyWriter;
        while (count > 0)
        {
            var memory = writer.GetMemory(ChunkSize);
            var read = await file.ReadAsync(memory[..(int)Math.Min(Math.Min(memory.Length, ChunkSize), count)], context.RequestAborted);
            if (read == 0)
                throw new IOException($"blob {digest} is shorter than its recorded size");
            writer.Advance(read);
            RegistryMetrics.Sent(read);
            count -= read;
            var flushed = await writer.FlushAsync(context.RequestAborted);
            if (flushed.IsCanceled || flushed.IsCompleted)
                return;
        }
    }

    // One block of the transport's pool (64 KiB). A larger size hint makes the pipe rent an array of that size outside
    // the pool for each response, which a reader that stops reading keeps until it is dropped: with 1 MiB, 400 stalled
    // readers of a 20 MB blob took the server from 177 to 826 MB (and the freed arrays stayed until a full collection);
    // with 64 KiB, 184 to 248 MB (MemoryAmplificationTests). Loopback pulls of 256 MB were no slower (0.3-0.7 s either way).
    const int ChunkSize = Core.Hosting.LargeBlockMemoryPool.BlockSize;

    /// <summary>
    /// One <c>bytes=</c> range: (start, end) inclusive; (-1, -1) when unsatisfiable; null when there is no usable single
    /// range (absent, several ranges, not bytes, not numbers), which serves the whole blob as RFC 9110 allows.
    /// </summary>
    static (long Start, long End)? ParseRange(StringValues header, long length)
    {
        var value = header.ToString().Trim();
        if (!value.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase) || value.Contains(','))
            return null;
        var spec = value[6..].Trim();
        var dash = spec.IndexOf('-');
        if (dash < 0)
            return null;
        var first = spec[..dash].Trim();
        var last = spec[(dash + 1)..].Trim();
        if (first.Length == 0)
        {
            // bytes=-N: the last N bytes
            if (!long.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var suffix))
                return null;
            if (suffix == 0 || length == 0)
                return (-1, -1);
            return (Math.Max(0, length - suffix), length - 1);
        }
        if (!long.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var start))
            return null;
        long end = length - 1;
        if (last.Length > 0 && !long.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out end))
            return null;
        // A last byte before the first, or a first byte past the end: 416 (the conformance suite asks this of "500-0").
        if (end < start || start >= length)
            return (-1, -1);
        return (start, Math.Min(end, length - 1));
    }

    async Task DeleteBlobAsync(HttpContext context, string name, Digest digest)
    {
        var repository = await RequireRepositoryAsync(name, context.RequestAborted);
        if (!await store.UnlinkBlobAsync(repository.Id, digest, context.RequestAborted))
            throw new RegistryException(RegistryError.BlobUnknown, "blob unknown to registry", digest.ToString());
        context.Response.StatusCode = StatusCodes.Status202Accepted;
        context.Response.ContentLength = 0;
    }

    async Task StartUploadAsync(HttpContext context, string name)
    {
        var request = context.Request;
        var ct = context.RequestAborted;
        if (request.Query.TryGetValue("mount", out var mount) && !StringValues.IsNullOrEmpty(mount))
        {
            var digest = Digest.Parse(mount.ToString());
            var from = request.Query["from"].ToString();
            // Without a valid source repository, the spec lets the registry start an upload instead (202).
            if (OciNames.IsValidRepository(from) && from != name && await MayPullAsync(context, from))
            {
                using (await blobs.LockDigestAsync(digest, ct))
                {
                    // Mounted only when the file is the blob (see GetBlobAsync); else the upload that follows replaces it.
                    if (blobs.LengthOf(digest) is { } length && await store.MountAsync(name, from, digest, OperatorOf(context), ct) == length)
                    {
                        BlobCreated(context.Response, name, digest);
                        return;
                    }
                }
            }
        }
        else if (request.Query.TryGetValue("digest", out var digestValue))
        {
            // Monolithic upload: POST ?digest= with the whole blob as the body.
            var digest = Digest.Parse(digestValue.ToString());
            RefuseDeclaredOverLimit(request, 0);
            blobs.RequireFreeSpace(request.ContentLength ?? 0);
            LiftBodyLimit(context);
            // A session row claims the digest while the bytes arrive (see UploadStore.ClaimUploadAsync); linking ends it.
            var uploadId = Guid.NewGuid().ToString("N");
            var file = blobs.UploadPath($"{uploadId}.mono");
            var linked = false;
            try
            {
                await uploads.ClaimMonolithicAsync(uploadId, name, digest, ct);
                using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
                await using (File.Create(file)) { }
                var size = await blobs.AppendAsync(file, request.BodyReader, hash, ct);
                CheckLength(request, size);
                var actual = new Digest(Convert.ToHexStringLower(hash.GetHashAndReset()));
                if (actual != digest)
                    throw DigestMismatch(digest, actual);
                await CommitAsync(name, file, digest, size, OperatorOf(context), uploadId, ct);
                linked = true;
            }
            finally
            {
                TryDelete(file);
                if (!linked)
                    await uploads.DeleteUploadAsync(uploadId, CancellationToken.None);
            }
            BlobCreated(context.Response, name, digest);
            return;
        }

        var id = Guid.NewGuid().ToString("N");
        blobs.RequireFreeSpace(request.ContentLength ?? 0);
        await using (File.Create(blobs.UploadPath(id))) { }
        await uploads.CreateUploadAsync(id, name, ct);
        UploadAccepted(context.Response, name, id, 0, StatusCodes.Status202Accepted);
    }

    async Task PatchUploadAsync(HttpContext context, string name, string id)
    {
        var ct = context.RequestAborted;
        var request = context.Request;
        using (await blobs.LockUploadAsync(ValidateUploadId(id), ct))
        {
            var file = await RequireUploadAsync(name, id, ct);
            var offset = new FileInfo(file).Length;
            if (request.Headers.ContentRange is { Count: > 0 } contentRange)
            {
                var (start, end) = ParseContentRange(contentRange.ToString());
                if (start != offset)
                {
                    UploadHeaders(context.Response, name, id, offset);
                    throw new RegistryException(RegistryError.RangeInvalid, "blob upload invalid",
                        $"the chunk starts at {start} but the upload has {offset} bytes; send the chunk that starts at {offset}");
                }
                if (request.ContentLength is { } declared && declared != end - start + 1)
                    throw new RegistryException(RegistryError.BlobUploadInvalid, "blob upload invalid",
                        $"Content-Range {start}-{end} is {end - start + 1} bytes but Content-Length is {declared}");
            }
            RefuseDeclaredOverLimit(request, offset);
            blobs.RequireFreeSpace(request.ContentLength ?? 0);
            LiftBodyLimit(context);
            var written = await AppendAsync(id, file, offset, request.BodyReader, ct);
            UploadAccepted(context.Response, name, id, offset + written, StatusCodes.Status202Accepted);
        }
    }

    async Task FinishUploadAsync(HttpContext context, string name, string id)
    {
        var ct = context.RequestAborted;
        var request = context.Request;
        if (!request.Query.TryGetValue("digest", out var digestValue) || StringValues.IsNullOrEmpty(digestValue))
            throw new RegistryException(RegistryError.DigestInvalid, "provided digest did not match uploaded content",
                "PUT that closes an upload needs ?digest=sha256:...");
        var digest = Digest.Parse(digestValue.ToString());
        using (await blobs.LockUploadAsync(ValidateUploadId(id), ct))
        {
            var file = blobs.UploadPath(id);
            if (!await uploads.ClaimUploadAsync(id, name, digest, options.CurrentValue.UploadExpiry, ct) || !File.Exists(file))
                throw new RegistryException(RegistryError.BlobUploadUnknown, "blob upload unknown to registry", id);
            var offset = new FileInfo(file).Length;
            if (request.Headers.ContentRange is { Count: > 0 } contentRange && ParseContentRange(contentRange.ToString()).Start != offset)
            {
                UploadHeaders(context.Response, name, id, offset);
                throw new RegistryException(RegistryError.RangeInvalid, "blob upload invalid", $"the final chunk must start at {offset}");
            }
            RefuseDeclaredOverLimit(request, offset);
            if (request.ContentLength is > 0)
                blobs.RequireFreeSpace(request.ContentLength.Value);
            LiftBodyLimit(context);
            var size = offset + await AppendAsync(id, file, offset, request.BodyReader, ct);
            var actual = await hashes.DigestAsync(id, file, ct);
            if (actual != digest)
            {
                // The bytes can never become this digest: the session ends, as in distribution.
                await EndUploadAsync(id, file, ct);
                throw DigestMismatch(digest, actual);
            }
            await CommitAsync(name, file, digest, size, OperatorOf(context), id, ct);
        }
        BlobCreated(context.Response, name, digest);
    }

    async Task UploadStatusAsync(HttpContext context, string name, string id)
    {
        var file = await RequireUploadAsync(name, ValidateUploadId(id), context.RequestAborted);
        UploadAccepted(context.Response, name, id, new FileInfo(file).Length, StatusCodes.Status204NoContent);
    }

    async Task CancelUploadAsync(HttpContext context, string name, string id)
    {
        var ct = context.RequestAborted;
        using (await blobs.LockUploadAsync(ValidateUploadId(id), ct))
        {
            var file = await RequireUploadAsync(name, id, ct);
            await EndUploadAsync(id, file, ct);
        }
        context.Response.StatusCode = StatusCodes.Status204NoContent;
        context.Response.ContentLength = 0;
    }

    async Task EndUploadAsync(string id, string file, CancellationToken ct)
    {
        // The file first: on a full disk, removing it is what frees the room the database needs to delete the row.
        hashes.Forget(id);
        TryDelete(file);
        await uploads.DeleteUploadAsync(id, ct);
    }

    /// <summary>Appends a body to a session's file, keeping the running hash when it can.</summary>
    async Task<long> AppendAsync(string id, string file, long offset, System.IO.Pipelines.PipeReader body, CancellationToken ct)
    {
        var hash = hashes.Continue(id, offset);
        try
        {
            var written = await blobs.AppendAsync(file, body, hash, ct);
            if (hash is not null)
                hashes.Store(id, hash, offset + written);
            return written;
        }
        catch (Exception e)
        {
            hash?.Dispose();
            if (BlobStore.IsDiskFull(e))
            {
                // The chunk did not fit: drop what of it was written, so the session stays where it was and the disk
                // gets its room back (GET on the session says the old offset; the client may resend the chunk).
                hashes.Forget(id);
                using (var handle = File.OpenHandle(file, FileMode.Open, FileAccess.Write))
                    RandomAccess.SetLength(handle, offset);
                throw BlobStore.DiskFull();
            }
            throw;
        }
    }

    /// <summary>
    /// Moves a verified file into place and links it, ending the upload session whose claim kept collections of every
    /// replica off the digest meanwhile; under this process's digest lock (see <see cref="BlobStore.LockDigestAsync"/>).
    /// </summary>
    async Task CommitAsync(string name, string file, Digest digest, long size, string @operator, string uploadId, CancellationToken ct)
    {
        using (await blobs.LockDigestAsync(digest, ct))
        {
            blobs.Commit(file, digest);
            // From here the blob is durable; finish linking even if the client goes away now.
            await store.LinkBlobAsync(name, digest, size, @operator, uploadId, CancellationToken.None);
        }
    }

    async Task<string> RequireUploadAsync(string name, string id, CancellationToken ct)
    {
        var file = blobs.UploadPath(id);
        bool live;
        try
        {
            live = await uploads.TouchUploadAsync(id, name, options.CurrentValue.UploadExpiry, ct);
        }
        catch (Exception e) when (BlobStore.IsDiskFull(e))
        {
            // A full disk cannot take the refreshed expiry; a status read or a cancel must work all the same.
            live = await uploads.UploadExistsAsync(id, ct);
        }
        if (!live || !File.Exists(file))
            throw new RegistryException(RegistryError.BlobUploadUnknown, "blob upload unknown to registry", id);
        return file;
    }

    /// <summary>Session ids are the server's own GUIDs; anything else (a path, say) is simply unknown.</summary>
    static string ValidateUploadId(string id) =>
        id.Length == 32 && id.All(char.IsAsciiHexDigitLower) ? id
            : throw new RegistryException(RegistryError.BlobUploadUnknown, "blob upload unknown to registry", Names.Shorten(id));

    /// <summary>Content-Range of a chunk: <c>start-end</c> (inclusive), as the spec writes it; "bytes " and "/size" are tolerated.</summary>
    static (long Start, long End) ParseContentRange(string value)
    {
        var text = value.Trim();
        if (text.StartsWith("bytes", StringComparison.OrdinalIgnoreCase))
            text = text[5..].TrimStart(' ', '=');
        var slash = text.IndexOf('/');
        if (slash >= 0)
            text = text[..slash];
        var dash = text.IndexOf('-');
        if (dash > 0
            && long.TryParse(text[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
            && long.TryParse(text[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var end)
            && end >= start)
            return (start, end);
        throw new RegistryException(RegistryError.RangeInvalid, "blob upload invalid",
            $"Content-Range '{Names.Shorten(value)}' is not <start>-<end>");
    }

    /// <summary>
    /// Refuses a body whose Content-Length would take the upload past Registry:MaxBlobSize before a byte of it is stored
    /// (<see cref="BlobStore.AppendAsync"/> enforces the limit on what arrives, for bodies of no declared length).
    /// </summary>
    void RefuseDeclaredOverLimit(HttpRequest request, long offset)
    {
        var max = options.CurrentValue.MaxBlobSize;
        if (request.ContentLength is { } declared && offset + declared > max)
            throw BlobStore.TooLarge(max);
    }

    static void CheckLength(HttpRequest request, long size)
    {
        if (request.ContentLength is { } declared && declared != size)
            throw new RegistryException(RegistryError.SizeInvalid, "provided length did not match content length",
                $"Content-Length {declared}, received {size}");
    }

    static RegistryException DigestMismatch(Digest expected, Digest actual) =>
        new(RegistryError.DigestInvalid, "provided digest did not match uploaded content", $"expected {expected}, content is {actual}");

    static void BlobCreated(HttpResponse response, string name, Digest digest)
    {
        response.StatusCode = StatusCodes.Status201Created;
        response.Headers.Location = $"/v2/{name}/blobs/{digest}";
        response.Headers["Docker-Content-Digest"] = digest.ToString();
        response.ContentLength = 0;
    }

    static void UploadHeaders(HttpResponse response, string name, string id, long offset)
    {
        response.Headers.Location = $"/v2/{name}/blobs/uploads/{id}";
        // The spec's Range is inclusive; an empty upload answers 0-0, as distribution does.
        response.Headers.Range = $"0-{Math.Max(0, offset - 1)}";
        response.Headers["Docker-Upload-UUID"] = id;
    }

    static void UploadAccepted(HttpResponse response, string name, string id, long offset, int status)
    {
        UploadHeaders(response, name, id, offset);
        response.StatusCode = status;
        response.ContentLength = 0;
    }

    void TryDelete(string file)
    {
        try
        {
            File.Delete(file);
        }
        catch (IOException e)
        {
            Log.DeleteFailed(logger, file, e);
        }
    }
}
