using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace BuildGrid.Registry;

/// <summary>Limits and schedules of the registry, bound from configuration section "Registry" and validated at start.</summary>
public sealed class RegistryOptions
{
    public const string Section = "Registry";

    /// <summary>The largest blob a push may upload, in bytes (default 20 GiB).</summary>
    [Range(1L, long.MaxValue)]
    public long MaxBlobSize { get; set; } = 20L * 1024 * 1024 * 1024;

    /// <summary>The largest manifest a push may put, in bytes (default 4 MiB, as the OCI spec suggests registries accept).</summary>
    [Range(1024, 64 * 1024 * 1024)]
    public int MaxManifestSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>An upload session with no request for this long is abandoned; garbage collection removes it.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan UploadExpiry { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// Blobs uploaded or linked within this window are never collected, even when no manifest references them yet:
    /// a client pushes its blobs first and the manifest last.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "30.00:00:00")]
    public TimeSpan GcGracePeriod { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How often the scheduled collection runs; 00:00:00 turns the schedule off (on demand still works).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "30.00:00:00")]
    public TimeSpan GcInterval { get; set; } = TimeSpan.FromHours(6);

    /// <summary>
    /// The lease a running collection holds in SQL, so that one collection runs at a time across replicas sharing the
    /// database; renewed every third of it. A collection whose replica dies is taken over once the lease lapses.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:03", "01:00:00")]
    public TimeSpan GcLease { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Flush each blob to disk (fsync) before it is renamed into place, so that a power loss cannot leave a named blob
    /// with missing bytes. Off trades that guarantee for push latency (a process kill is safe either way).
    /// </summary>
    public bool SyncBlobs { get; set; } = true;

    /// <summary>
    /// Free space the data directory keeps: a new upload, or a chunk whose declared length would take the free space
    /// below this, is refused (507) before a byte is written, so that the disk never fills to the point where SQLite
    /// cannot write (default 256 MiB; 0 turns the check off).
    /// </summary>
    [Range(0L, long.MaxValue)]
    public long MinFreeBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>The largest page of <c>/v2/_catalog</c> and <c>tags/list</c> (<c>n</c> above this is capped).</summary>
    [Range(1, 100_000)]
    public int MaxPageSize { get; set; } = 1000;
}

[OptionsValidator]
internal sealed partial class RegistryOptionsValidator : IValidateOptions<RegistryOptions>;
