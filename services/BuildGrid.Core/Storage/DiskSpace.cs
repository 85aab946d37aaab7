using BuildGrid.Core.Errors;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace BuildGrid.Core.Storage;

/// <summary>
/// The data directory's disk as writes and deletes meet it (one per process; every service of the process shares it).
/// <list type="bullet">
/// <item>A create is refused with <see cref="Reasons.InsufficientStorage"/> before it writes when the disk has less than
/// <see cref="MinFreeSetting"/> free (<see cref="RequireRoom"/>); a write that meets a full disk all the same (SQLITE_FULL,
/// ENOSPC) answers the same reason (<see cref="ErrorSizeInterceptor"/> maps it), never a bare internal error.</item>
/// <item>Deletes must work on a full disk — they are how an operator gets the room back — but SQLite needs free pages
/// to delete (the WAL frames of the transaction, the outbox row it adds). Refusing creates below the reserve is not
/// enough for that: the disk also fills from outside (another program, an upload of unknown length, logs). So the
/// data directory keeps a small file of real blocks, <see cref="ReserveFileName"/> (<see cref="ReserveBytes"/>): a
/// delete that meets a full disk releases it and runs once more (<see cref="DeletingAsync{T}"/>); it is made again
/// when a create finds room for it.</item>
/// </list>
/// </summary>
public sealed class DiskSpace
{
    public const string MinFreeSetting = "BUILDGRID_MIN_FREE_MB";
    public const int DefaultMinFreeMb = 64;
    public const string ReserveFileName = "delete-reserve";
    /// <summary>Enough for the WAL frames of a repository's delete with thousands of tags; small beside any real disk.</summary>
    public const long ReserveBytes = 8L << 20;

    readonly string dataDir;
    readonly long minFreeBytes;
    readonly bool keepsReserve;
    readonly ILogger logger;
    readonly Lock gate = new();

    public DiskSpace(string dataDir, long minFreeBytes, bool keepsReserve, ILogger<DiskSpace> logger)
    {
        this.dataDir = dataDir;
        this.minFreeBytes = minFreeBytes;
        this.keepsReserve = keepsReserve;
        this.logger = logger;
        ReservePath = Path.Combine(dataDir, ReserveFileName);
    }

    public string ReservePath { get; }

    public long FreeBytes => new DriveInfo(dataDir).AvailableFreeSpace;

    /// <summary>Whether an exception says the disk is full: ENOSPC/EDQUOT from a file write, SQLITE_FULL from SQLite.</summary>
    public static bool IsFull(Exception exception) => exception switch
    {
        IOException io => (io.HResult & 0xFFFF) is 28 or 122 || io.HResult == unchecked((int)0x80070070) || io.HResult == unchecked((int)0x80070027),
        Microsoft.Data.Sqlite.SqliteException sqlite => sqlite.SqliteErrorCode == 13,
        RpcException => false,
        _ => exception.InnerException is { } inner && IsFull(inner),
    };

    /// <summary>The answer for a write that met a full disk.</summary>
    public static RpcException Full() => Errors.Errors.InsufficientStorage(
        "insufficient storage: the disk of BuildGrid's data directory is full and nothing of this request was kept; free space or delete images, then retry");

    /// <summary>
    /// Refuses a create (before it writes) that would leave less than <see cref="MinFreeSetting"/> free, counting
    /// <paramref name="incoming"/> bytes it is about to store; 0 turns the check off. Makes the delete reserve again
    /// when there is room for it.
    /// </summary>
    public void RequireRoom(long incoming = 0)
    {
        if (minFreeBytes > 0)
        {
            var free = FreeBytes;
            if (free - incoming < minFreeBytes)
                throw Errors.Errors.InsufficientStorage(
                    $"insufficient storage: the disk of BuildGrid's data directory has {free >> 20} MB free and keeps {minFreeBytes >> 20} MB " +
                    $"({MinFreeSetting}); free space or delete images, then retry");
        }
        EnsureReserve();
    }

    /// <summary>Makes the delete reserve when it is missing and the disk has room for it and the free-space reserve.</summary>
    public void EnsureReserve()
    {
        if (!keepsReserve || File.Exists(ReservePath))
            return;
        lock (gate)
        {
            if (File.Exists(ReservePath) || FreeBytes < ReserveBytes + minFreeBytes)
                return;
            var partial = ReservePath + ".new";
            try
            {
                // Real blocks (written zeros, synced), not a sparse file: only those give room back when deleted.
                using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
                {
                    var zeros = new byte[1 << 16];
                    for (long written = 0; written < ReserveBytes; written += zeros.Length)
                        file.Write(zeros);
                    file.Flush(flushToDisk: true);
                }
                File.Move(partial, ReservePath, overwrite: true);
            }
            catch (IOException e)
            {
                File.Delete(partial);
                Log.DiskReserveNotMade(logger, ReservePath, e.Message);
            }
        }
    }

    /// <summary>Deletes the delete reserve; false when there was none.</summary>
    public bool ReleaseReserve()
    {
        lock (gate)
        {
            if (!File.Exists(ReservePath))
                return false;
            File.Delete(ReservePath);
            Log.DiskReserveReleased(logger, ReservePath);
            return true;
        }
    }

    /// <summary>
    /// Runs a delete; if it meets a full disk, releases the delete reserve and runs it once more (a delete is a
    /// transaction that did not commit, so running it again is safe).
    /// </summary>
    public async Task<T> DeletingAsync<T>(Func<Task<T>> delete)
    {
        try
        {
            return await delete();
        }
        catch (Exception e) when (IsFull(e) && ReleaseReserve())
        {
        }
        return await delete();
    }

    /// <inheritdoc cref="DeletingAsync{T}"/>
    public Task DeletingAsync(Func<Task> delete) => DeletingAsync(async () => { await delete(); return true; });
}
