using System.Diagnostics;
using BuildGrid.Registry.Domain;
using BuildGrid.Registry.Storage;
using Microsoft.Extensions.Options;

namespace BuildGrid.Registry.Gc;

/// <summary>What one collection did (or, in a dry run, would do).</summary>
public sealed record GcReport(long Marked, IReadOnlyList<string> Deleted, long BytesFreed, long UploadsExpired, long StrayFiles,
    bool DryRun, TimeSpan Duration);

/// <summary>
/// Online mark and sweep. Mark: the blob digests that manifests reference. Sweep: blobs outside that set whose grace
/// period (Registry:GcGracePeriod, counted from their last upload or link) is over — a push uploads its blobs before
/// its manifest, so a push in flight is never swept. Each delete re-checks under the digest lock and inside a write
/// transaction, then removes the rows before the file, so no row ever names a missing file. Also removes expired
/// upload sessions and stray files (a blob file without a row, left by a crash between rename and insert).
/// </summary>
/// <remarks>
/// Replicas sharing the data directory and database (distributed mode) stay safe because everything that decides is in
/// SQL: one collection runs at a time, holding the <see cref="GcStore.Lease"/> lease (renewed while it runs); a
/// digest that an upload session on any replica claims (it is committing that blob) is never deleted; and each deletion
/// is recorded (blob_deletions) from the transaction that removes the rows until the file is gone, while uploads of
/// that digest wait. A deletion is only trusted while its collection holds the lease, so this collection stops before
/// deleting a file when its lease may have lapsed, and the next one finishes (or drops) what a dead one left.
/// </remarks>
public sealed class GarbageCollector(GcStore store, UploadStore uploads, BlobStore blobs, UploadHashes hashes, TimeProvider time,
    IOptionsMonitor<RegistryOptions> options, ILogger<GarbageCollector> logger) : IDisposable
{
    readonly SemaphoreSlim running = new(1, 1);

    public void Dispose() => running.Dispose();
    readonly string holder = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";

    /// <summary>Runs one collection; null when another is already running (in this process or on another replica).</summary>
    public async Task<GcReport?> TryRunAsync(bool dryRun, TimeSpan? gracePeriod, CancellationToken cancellationToken)
    {
        if (!await running.WaitAsync(0, cancellationToken))
            return null;
        try
        {
            var duration = options.CurrentValue.GcLease;
            if (!await store.TryLeaseAsync(GcStore.Lease, holder, duration, cancellationToken))
                return null;
            await using var lease = new Lease(store, holder, duration, cancellationToken);
            return await RunAsync(dryRun, gracePeriod ?? options.CurrentValue.GcGracePeriod, lease, lease.Token);
        }
        finally
        {
            running.Release();
        }
    }

    async Task<GcReport> RunAsync(bool dryRun, TimeSpan grace, Lease lease, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var now = time.GetUtcNow();
        var cutoff = now - grace;
        var uploadCutoff = now - options.CurrentValue.UploadExpiry;
        var deleted = new List<string>();
        long freed = 0;

        // Deletions a collection that died (or lost its lease) left half done.
        if (!dryRun)
        {
            foreach (var digest in await store.TakeOverDeletionsAsync(holder, uploadCutoff, cancellationToken))
            {
                using (await blobs.LockDigestAsync(digest, cancellationToken))
                    freed += await FinishDeletionAsync(digest, lease);
            }
        }

        var marked = await store.ReferencedBlobsAsync(cancellationToken);
        foreach (var (digestText, size) in await store.SweepCandidatesAsync(cutoff, cancellationToken))
        {
            var digest = Digest.Parse(digestText);
            if (dryRun)
            {
                deleted.Add(digestText);
                freed += size;
                continue;
            }
            using (await blobs.LockDigestAsync(digest, cancellationToken))
            {
                if (!await store.DeleteBlobIfUnreferencedAsync(digest, cutoff, uploadCutoff, holder, cancellationToken))
                    continue;
                freed += await FinishDeletionAsync(digest, lease);
                deleted.Add(digestText);
            }
        }

        // Expired upload sessions: rows first, then their files.
        var expired = await uploads.ExpiredUploadsAsync(uploadCutoff, cancellationToken);
        if (!dryRun)
        {
            foreach (var id in expired)
            {
                using (await blobs.LockUploadAsync(id, cancellationToken))
                {
                    await uploads.DeleteUploadAsync(id, cancellationToken);
                    hashes.Forget(id);
                    TryDeleteFile(blobs.UploadPath(id));
                }
            }
        }

        long stray = 0;
        // Upload files without a session (monolithic uploads cut off by a crash, sessions whose row went first).
        foreach (var file in new DirectoryInfo(blobs.UploadsDirectory).EnumerateFiles())
        {
            if (file.LastWriteTimeUtc >= uploadCutoff.UtcDateTime)
                continue;
            var id = Path.GetFileNameWithoutExtension(file.Name);
            if (file.Extension.Length == 0 && await uploads.UploadExistsAsync(id, cancellationToken))
                continue;
            stray++;
            if (!dryRun)
                TryDeleteFile(file.FullName);
        }
        // Blob files without a row, older than the grace period, that no upload session is committing.
        foreach (var (digest, file) in blobs.EnumerateBlobFiles())
        {
            if (file.LastWriteTimeUtc >= cutoff.UtcDateTime)
                continue;
            using (await blobs.LockDigestAsync(digest, cancellationToken))
            {
                if (dryRun)
                {
                    if (!await store.BlobRowExistsAsync(digest, cancellationToken))
                        stray++;
                    continue;
                }
                if (!await store.BeginStrayDeletionAsync(digest, uploadCutoff, holder, cancellationToken))
                    continue;
                stray++;
                freed += await FinishDeletionAsync(digest, lease);
            }
        }

        var report = new GcReport(marked.Count, deleted, freed, expired.Count, stray, dryRun, clock.Elapsed);
        Log.GcFinished(logger, report.Marked, deleted.Count, freed, expired.Count, stray, report.Duration, dryRun);
        return report;
    }

    /// <summary>Deletes the file of a recorded deletion and ends the record, if the lease still protects it.</summary>
    async Task<long> FinishDeletionAsync(Digest digest, Lease lease)
    {
        lease.EnsureHeld();
        var size = TryDelete(digest);
        await store.EndDeletionAsync(digest, CancellationToken.None);
        return size;
    }

    long TryDelete(Digest digest)
    {
        try
        {
            return blobs.Delete(digest);
        }
        catch (IOException e)
        {
            Log.DeleteFailed(logger, blobs.PathOf(digest), e);
            return 0;
        }
    }

    void TryDeleteFile(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException e)
        {
            Log.DeleteFailed(logger, path, e);
        }
    }
}

/// <summary>
/// The collector's SQL lease while a collection runs: renewed every third of its duration; when a renewal fails (another
/// replica took a lapsed lease over) or none succeeded for two thirds of it, the collection stops before its next delete.
/// </summary>
sealed class Lease : IAsyncDisposable
{
    readonly GcStore store;
    readonly string holder;
    readonly TimeSpan duration;
    readonly CancellationTokenSource stop;
    readonly Task renewing;
    long renewedAt = Stopwatch.GetTimestamp();

    public Lease(GcStore store, string holder, TimeSpan duration, CancellationToken cancellationToken)
    {
        (this.store, this.holder, this.duration) = (store, holder, duration);
        stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        renewing = RenewAsync();
    }

    public CancellationToken Token => stop.Token;

    /// <summary>Throws unless the lease surely still holds (renewed within two thirds of its duration).</summary>
    public void EnsureHeld()
    {
        if (stop.IsCancellationRequested || Stopwatch.GetElapsedTime(Interlocked.Read(ref renewedAt)) > duration * 2 / 3)
            throw new InvalidOperationException("the garbage collection lost its lease (another replica may have taken it over); it stopped");
    }

    async Task RenewAsync()
    {
        try
        {
            while (true)
            {
                await Task.Delay(duration / 3, stop.Token);
                var attempt = Stopwatch.GetTimestamp();
                if (!await store.TryLeaseAsync(GcStore.Lease, holder, duration, stop.Token))
                {
                    await stop.CancelAsync();
                    return;
                }
                Interlocked.Exchange(ref renewedAt, attempt);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        await renewing;
        stop.Dispose();
        await store.ReleaseLeaseAsync(GcStore.Lease, holder, CancellationToken.None);
    }
}

/// <summary>Runs the collector every Registry:GcInterval (off when zero).</summary>
public sealed class GcSchedule(GarbageCollector collector, IOptionsMonitor<RegistryOptions> options, ILogger<GcSchedule> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var interval = options.CurrentValue.GcInterval;
            try
            {
                await Task.Delay(interval > TimeSpan.Zero ? interval : TimeSpan.FromMinutes(1), stoppingToken);
                if (interval > TimeSpan.Zero)
                    await collector.TryRunAsync(dryRun: false, gracePeriod: null, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Log.GcFailed(logger, interval, e);
            }
        }
    }
}
