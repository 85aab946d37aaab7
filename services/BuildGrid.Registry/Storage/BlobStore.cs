using System.IO.Pipelines;
using System.Security.Cryptography;
using BuildGrid.Core.Hosting;
using BuildGrid.Registry.Domain;
using Microsoft.Extensions.Options;
using Microsoft.Win32.SafeHandles;

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

    /// <summary>
    /// Refuses (507) a write of <paramref name="incoming"/> bytes (0 when unknown) that would leave less than
    /// Registry:MinFreeBytes free in the data directory's file system.
    /// </summary>
    public void RequireFreeSpace(long incoming)
    {
        var reserve = options.CurrentValue.MinFreeBytes;
        if (reserve <= 0)
            return;
        var free = new DriveInfo(Root).AvailableFreeSpace;
        if (free - incoming < reserve)
            throw new RegistryException(RegistryError.InsufficientStorage, "insufficient storage",
                $"the registry's disk has {free} bytes free and keeps {reserve} (Registry:MinFreeBytes); free space or delete images, then retry");
    }

    /// <summary>Whether an exception says the disk is full: ENOSPC/EDQUOT from a file write, SQLITE_FULL from the database.</summary>
    public static bool IsDiskFull(Exception exception) => Core.Storage.DiskSpace.IsFull(exception);

    public static RegistryException DiskFull() =>
        new(RegistryError.InsufficientStorage, "insufficient storage",
            "the registry's disk is full: nothing of this request was kept; free space or delete images, then retry");

    /// <summary>The upload file of a session; ids are server-made GUIDs (checked by the caller), never client paths.</summary>
    public string UploadPath(string uploadId) => Path.Combine(uploads, uploadId);

    /// <summary>
    /// Serializes, within this process, everything that creates or deletes one digest's file and rows: commit of an
    /// upload, mount, and the collector's delete. Across replicas sharing the data directory, the upload session's claim
    /// and the collector's blob_deletions row (in SQL, see <see cref="UploadStore.ClaimUploadAsync"/>) do that.
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

    /// <summary>The length of a blob's file, or null when it is not there.</summary>
    public long? LengthOf(Digest digest) => new FileInfo(PathOf(digest)) is { Exists: true } file ? file.Length : null;

    /// <summary>
    /// Appends a request body to an upload file, streaming, feeding <paramref name="hash"/> when given. Returns the bytes
    /// appended. Refuses to grow the file past Registry:MaxBlobSize.
    /// </summary>
    /// <remarks>
    /// The body is read from Kestrel's pipe without a copy: each batch of received segments (at least
    /// <see cref="MinWrite"/> bytes, so one system call moves many socket reads) is hashed while it is still in the CPU
    /// cache and handed to one gathering <c>pwritev</c>. Writing from a large user buffer instead cost about three times
    /// the kernel's copy into the page cache (the buffer had left the cache by then). With Registry:SyncBlobs, every
    /// <see cref="WritebackInterval"/> bytes the kernel is asked to start writing the file out, so that the fsync at
    /// commit finds little left to do.
    /// </remarks>
    public async Task<long> AppendAsync(string file, PipeReader body, IncrementalHash? hash, CancellationToken cancellationToken)
    {
        var max = options.CurrentValue.MaxBlobSize;
        var writeback = options.CurrentValue.SyncBlobs;
        using var handle = File.OpenHandle(file, FileMode.Open, FileAccess.Write, FileShare.Read);
        var start = RandomAccess.GetLength(handle);
        var offset = start;
        var flushedTo = start;
        var segments = new List<ReadOnlyMemory<byte>>(MaxSegmentsPerWrite);
        while (true)
        {
            var result = await body.ReadAtLeastAsync(MinWrite, cancellationToken);
            if (result.IsCanceled)
                throw new OperationCanceledException("the request body read was canceled");
            var buffer = result.Buffer;
            // Every read is advanced, even one that fails, so that Kestrel can drain or close the body afterwards.
            var consumed = buffer.Start;
            try
            {
                if (offset + buffer.Length > max)
                    throw TooLarge(max);
                foreach (var segment in buffer)
                {
                    if (segment.IsEmpty)
                        continue;
                    hash?.AppendData(segment.Span);
                    segments.Add(segment);
                    if (segments.Count == MaxSegmentsPerWrite)
                        offset = Write(handle, segments, offset);
                }
                offset = Write(handle, segments, offset);
                consumed = buffer.End;
            }
            finally
            {
                body.AdvanceTo(consumed, buffer.End);
            }
            if (writeback && offset - flushedTo >= WritebackInterval)
            {
                Writeback.Start(handle, flushedTo, offset - flushedTo);
                flushedTo = offset;
            }
            if (result.IsCompleted)
                break;
        }
        RegistryMetrics.Received(offset - start);
        return offset - start;
    }

    /// <summary>The error of an upload that would grow a blob past Registry:MaxBlobSize.</summary>
    public static RegistryException TooLarge(long max) =>
        new(RegistryError.TooLarge, "blob too large", $"blobs are limited to {max} bytes (Registry:MaxBlobSize)");

    static long Write(SafeFileHandle handle, List<ReadOnlyMemory<byte>> segments, long offset)
    {
        if (segments.Count == 0)
            return offset;
        RandomAccess.Write(handle, segments, offset);
        foreach (var segment in segments)
            offset += segment.Length;
        segments.Clear();
        return offset;
    }

    /// <summary>Bytes gathered before one write: many 4 KiB socket reads, well under Kestrel's 1 MiB request buffer.</summary>
    const int MinWrite = 256 * 1024;

    /// <summary>Segments in one <c>pwritev</c>, far below the kernel's IOV_MAX of 1024.</summary>
    const int MaxSegmentsPerWrite = 256;

    /// <summary>How much a push writes before the kernel is asked to start writing it to disk.</summary>
    const long WritebackInterval = 8 * 1024 * 1024;

    /// <summary>The sha256 of a whole file, read in a stream.</summary>
    public static async Task<Digest> HashFileAsync(string file, CancellationToken cancellationToken)
    {
        await using var input = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize,
            FileOptions.Asynchronous | FileOptions.SequentialScan);
        return new Digest(Convert.ToHexStringLower(await SHA256.HashDataAsync(input, cancellationToken)));
    }

    /// <summary>
    /// Makes a verified upload file the blob <paramref name="digest"/>: fsync, then an atomic rename into place. When the
    /// blob is already there (same digest, same size) the upload file is dropped instead; a file of another size there (cut
    /// short by a power loss with Registry:SyncBlobs off) is replaced. Call under the digest lock.
    /// </summary>
    public void Commit(string uploadFile, Digest digest)
    {
        var target = PathOf(digest);
        var existing = new FileInfo(target);
        if (existing.Exists && existing.Length == new FileInfo(uploadFile).Length)
        {
            File.Delete(uploadFile);
            return;
        }
        if (options.CurrentValue.SyncBlobs)
        {
            using var handle = File.OpenHandle(uploadFile, FileMode.Open, FileAccess.ReadWrite);
            Writeback.Flush(handle);
        }
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        try
        {
            File.Move(uploadFile, target, overwrite: existing.Exists);
        }
        catch (IOException) when (File.Exists(target))
        {
            // Another replica put the same bytes in place first.
            File.Delete(uploadFile);
            return;
        }
        if (options.CurrentValue.SyncBlobs)
            Writeback.FlushDirectory(Path.GetDirectoryName(target)!); // the rename itself is durable before the blob is linked in SQL
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
