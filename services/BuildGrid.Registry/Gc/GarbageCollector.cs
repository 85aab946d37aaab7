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
public sealed class GarbageCollector(RegistryStore store, BlobStore blobs, UploadHashes hashes,
    IOptionsMonitor<RegistryOptions> options, ILogger<GarbageCollector> logger)
{
    readonly SemaphoreSlim running = new(1, 1);

    /// <summary>Runs one collection; null when another is already running.</summary>
    public async Task<GcReport?> TryRunAsync(bool dryRun, TimeSpan? gracePeriod, CancellationToken cancellationToken)
    {
        if (!await running.WaitAsync(0, cancellationToken))
            return null;
        try
        {
            return await RunAsync(dryRun, gracePeriod ?? options.CurrentValue.GcGracePeriod, cancellationToken);
        }
        finally
        {
            running.Release();
        }
    }

    async Task<GcReport> RunAsync(bool dryRun, TimeSpan grace, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var now = DateTimeOffset.UtcNow;
        var cutoff = now - grace;

        var marked = await store.ReferencedBlobsAsync(cancellationToken);
        var deleted = new List<string>();
        long freed = 0;
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
                if (!await store.DeleteBlobIfUnreferencedAsync(digest, cutoff, cancellationToken))
                    continue;
                freed += TryDelete(digest);
                deleted.Add(digestText);
            }
        }

        // Expired upload sessions: rows first, then their files.
        var uploadCutoff = now - options.CurrentValue.UploadExpiry;
        var expired = await store.ExpiredUploadsAsync(uploadCutoff, cancellationToken);
        if (!dryRun)
        {
            foreach (var id in expired)
            {
                using (await blobs.LockUploadAsync(id, cancellationToken))
                {
                    await store.DeleteUploadAsync(id, cancellationToken);
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
            if (file.Extension.Length == 0 && await store.UploadExistsAsync(id, cancellationToken))
                continue;
            stray++;
            if (!dryRun)
                TryDeleteFile(file.FullName);
        }
        // Blob files without a row, older than the grace period.
        foreach (var (digest, file) in blobs.EnumerateBlobFiles())
        {
            if (file.LastWriteTimeUtc >= cutoff.UtcDateTime)
                continue;
            using (await blobs.LockDigestAsync(digest, cancellationToken))
            {
                if (await store.BlobRowExistsAsync(digest, cancellationToken))
                    continue;
                stray++;
                if (!dryRun)
                    freed += TryDelete(digest);
            }
        }

        var report = new GcReport(marked.Count, deleted, freed, expired.Count, stray, dryRun, clock.Elapsed);
        Log.GcFinished(logger, report.Marked, deleted.Count, freed, expired.Count, stray, report.Duration, dryRun);
        return report;
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
