using System.Buffers;
using System.Security.Cryptography;
using BuildGrid.Core.Hosting;
using BuildGrid.Registry.Domain;
using Microsoft.Extensions.Options;

namespace BuildGrid.Registry.Storage;

/// <summary>
/// Blob and upload files under <c>{data}/registry</c>. A blob file appears only by an atomic rename of a complete,
/// digest-verified, fsynced upload file, so a reader never sees part of a blob; the SQL rows that make a blob visible
/// are written after the rename and removed before the file is deleted (<see cref="RegistryStore"/>).
/// </summary>
public sealed class BlobStore
{
    const int BufferSize = 1024 * 1024;
    readonly string blobs;
    readonly string uploads;
    readonly SemaphoreSlim[] digestLocks = Enumerable.Range(0, 256).Select(_ => new SemaphoreSlim(1, 1)).ToArray();
    readonly SemaphoreSlim[] uploadLocks = Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1)).ToArray();
    readonly IOptionsMonitor<RegistryOptions> options;

    public BlobStore(BuildGridSettings settings, IOptionsMonitor<RegistryOptions> options)
    {
        this.options = options;
        Root = Path.Combine(settings.DataDir, "registry");
        blobs = Path.Combine(Root, "blobs", "sha256");
        uploads = Path.Combine(Root, "uploads");
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(uploads);
    }

    public string Root { get; }
    public string BlobsDirectory => blobs;
    public string UploadsDirectory => uploads;

    public string PathOf(Digest digest) => Path.Combine(blobs, digest.Hex[..2], digest.Hex);

    /// <summary>The upload file of a session; ids are server-made GUIDs (checked by the caller), never client paths.</summary>
    public string UploadPath(string uploadId) => Path.Combine(uploads, uploadId);

    /// <summary>
    /// Serializes everything that creates or deletes one digest's file and rows: commit of an upload, mount, and the
    /// collector's delete. (One process owns a data directory; replicas sharing a disk would need a distributed lock.)
    /// </summary>
    public async Task<IDisposable> LockDigestAsync(Digest digest, CancellationToken cancellationToken)
    {
        var semaphore = digestLocks[Convert.ToInt32(digest.Hex[..2], 16)];
        await semaphore.WaitAsync(cancellationToken);
        return new Releaser(semaphore);
    }

    /// <summary>One request at a time per upload session (a client sending two chunks at once gets them in turn).</summary>
    public async Task<IDisposable> LockUploadAsync(string uploadId, CancellationToken cancellationToken)
    {
        var semaphore = uploadLocks[(int)((uint)StringComparer.Ordinal.GetHashCode(uploadId) % (uint)uploadLocks.Length)];
        await semaphore.WaitAsync(cancellationToken);
        return new Releaser(semaphore);
    }

    /// <summary>Opens a blob for reading, or null when its file is not there.</summary>
    public FileStream? OpenRead(Digest digest)
    {
        try
        {
            return new FileStream(PathOf(digest), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 0,
                FileOptions.SequentialScan);
        }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    public bool Exists(Digest digest) => File.Exists(PathOf(digest));

    /// <summary>
    /// Appends a request body to an upload file, streaming (1 MiB at a time), feeding <paramref name="hash"/> when given.
    /// Returns the bytes appended. Refuses to grow the file past Registry:MaxBlobSize.
    /// </summary>
    public async Task<long> AppendAsync(string file, Stream body, IncrementalHash? hash, CancellationToken cancellationToken)
    {
        var max = options.CurrentValue.MaxBlobSize;
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            await using var output = new FileStream(file, FileMode.Append, FileAccess.Write, FileShare.Read, 1, FileOptions.Asynchronous);
            var start = output.Position;
            long written = 0;
            int read;
            while ((read = await FillAsync(body, buffer, cancellationToken)) > 0)
            {
                if (start + written + read > max)
                    throw new RegistryException(RegistryError.TooLarge, "blob too large",
                        $"blobs are limited to {max} bytes (Registry:MaxBlobSize)");
                await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                hash?.AppendData(buffer, 0, read);
                written += read;
            }
            return written;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Reads until the buffer is full or the body ends: the socket hands over a few KiB at a time, and one large write
    /// costs far less than many small ones.
    /// </summary>
    static async Task<int> FillAsync(Stream body, byte[] buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        int read;
        while (filled < BufferSize && (read = await body.ReadAsync(buffer.AsMemory(filled, BufferSize - filled), cancellationToken)) > 0)
            filled += read;
        return filled;
    }

    /// <summary>The sha256 of a whole file, read in a stream.</summary>
    public static async Task<Digest> HashFileAsync(string file, CancellationToken cancellationToken)
    {
        await using var input = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize,
            FileOptions.Asynchronous | FileOptions.SequentialScan);
        return new Digest(Convert.ToHexStringLower(await SHA256.HashDataAsync(input, cancellationToken)));
    }

    /// <summary>
    /// Makes a verified upload file the blob <paramref name="digest"/>: fsync, then an atomic rename into place. When the
    /// blob is already there (same digest, same bytes) the upload file is dropped instead. Call under the digest lock.
    /// </summary>
    public void Commit(string uploadFile, Digest digest)
    {
        var target = PathOf(digest);
        if (File.Exists(target))
        {
            File.Delete(uploadFile);
            return;
        }
        if (options.CurrentValue.SyncBlobs)
        {
            using var handle = File.OpenHandle(uploadFile, FileMode.Open, FileAccess.ReadWrite);
            RandomAccess.FlushToDisk(handle);
        }
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.Move(uploadFile, target, overwrite: false);
    }

    /// <summary>Deletes a blob file (call under the digest lock, after its rows are gone). Returns its size, or 0 when absent.</summary>
    public long Delete(Digest digest)
    {
        var file = new FileInfo(PathOf(digest));
        if (!file.Exists)
            return 0;
        var size = file.Length;
        file.Delete();
        return size;
    }

    /// <summary>Every blob file on disk (for the collector's stray-file pass).</summary>
    public IEnumerable<(Digest Digest, FileInfo File)> EnumerateBlobFiles()
    {
        foreach (var directory in new DirectoryInfo(blobs).EnumerateDirectories())
        {
            foreach (var file in directory.EnumerateFiles())
            {
                if (Digest.TryParse(Digest.Sha256Prefix + file.Name, out var digest) && file.Name.StartsWith(directory.Name, StringComparison.Ordinal))
                    yield return (digest.Value, file);
            }
        }
    }

    sealed class Releaser(SemaphoreSlim semaphore) : IDisposable
    {
        int released;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref released, 1) == 0)
                semaphore.Release();
        }
    }
}
