using System.Collections.Concurrent;
using System.Security.Cryptography;
using BuildGrid.Registry.Domain;

namespace BuildGrid.Registry.Storage;

/// <summary>
/// The running sha256 of each upload session that this process has received in order, so that finishing a chunked
/// upload does not read the file again. Only a cache: when it does not cover the whole file (a restart, a failed
/// chunk) the file is hashed from disk instead. Use under the session's upload lock.
/// </summary>
public sealed class UploadHashes
{
    sealed record Entry(IncrementalHash Hash, long Offset);

    readonly ConcurrentDictionary<string, Entry> entries = new();

    /// <summary>A hash to feed with bytes appended at <paramref name="offset"/>, or null when the cache cannot continue there.</summary>
    public IncrementalHash? Continue(string uploadId, long offset)
    {
        if (entries.TryRemove(uploadId, out var entry))
        {
            if (entry.Offset == offset)
                return entry.Hash;
            entry.Hash.Dispose();
        }
        return offset == 0 ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
    }

    /// <summary>Keeps a hash that now covers the file up to <paramref name="offset"/>.</summary>
    public void Store(string uploadId, IncrementalHash hash, long offset) => entries[uploadId] = new Entry(hash, offset);

    /// <summary>The digest of the upload file, from the cache when it covers the file, else by reading it.</summary>
    public async Task<Digest> DigestAsync(string uploadId, string file, CancellationToken cancellationToken)
    {
        var length = new FileInfo(file).Length;
        if (entries.TryRemove(uploadId, out var entry))
        {
            using (entry.Hash)
            {
                if (entry.Offset == length)
                    return new Digest(Convert.ToHexStringLower(entry.Hash.GetHashAndReset()));
            }
        }
        return await BlobStore.HashFileAsync(file, cancellationToken);
    }

    public void Forget(string uploadId)
    {
        if (entries.TryRemove(uploadId, out var entry))
            entry.Hash.Dispose();
    }
}
