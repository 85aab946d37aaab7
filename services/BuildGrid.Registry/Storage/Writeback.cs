using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BuildGrid.Registry.Storage;

/// <summary>
/// Linux writeback control for blob files: start writing a range to disk early (<c>sync_file_range</c> with
/// SYNC_FILE_RANGE_WRITE, which returns without waiting), and make a file durable with <c>fdatasync</c> (data and
/// the metadata needed to read it back, such as its size; not its timestamps). Elsewhere the early start is skipped and
/// the flush falls back to <see cref="RandomAccess.FlushToDisk"/>.
/// </summary>
static class Writeback
{
    const uint SyncFileRangeWrite = 2;

    [DllImport("libc", SetLastError = true, EntryPoint = "sync_file_range")]
    private static extern int SyncFileRange(SafeFileHandle fd, long offset, long count, uint flags);

    [DllImport("libc", SetLastError = true, EntryPoint = "fdatasync")]
    private static extern int FDataSync(SafeFileHandle fd);

    [DllImport("libc", SetLastError = true, EntryPoint = "open")]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true, EntryPoint = "fsync")]
    private static extern int FSync(int fd);

    [DllImport("libc", SetLastError = true, EntryPoint = "close")]
    private static extern int Close(int fd);

    static bool unsupported = !OperatingSystem.IsLinux();

    /// <summary>Asks the kernel to start writing the range out; a hint only, so failure is ignored.</summary>
    public static void Start(SafeFileHandle handle, long offset, long count)
    {
        if (unsupported)
            return;
        try
        {
            _ = SyncFileRange(handle, offset, count, SyncFileRangeWrite);   // advice: the fsync at commit is what durability rests on
        }
        catch (EntryPointNotFoundException)
        {
            unsupported = true;
        }
    }

    /// <summary>Flushes the file's data to disk; throws on an I/O error, as fsync would.</summary>
    public static void Flush(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux())
        {
            RandomAccess.FlushToDisk(handle);
            return;
        }
        if (FDataSync(handle) != 0)
            throw new IOException($"fdatasync failed: {Marshal.GetLastPInvokeErrorMessage()}", Marshal.GetLastPInvokeError());
    }

    /// <summary>
    /// Makes a directory's entries durable (a rename into it survives a power cut, not just a process crash). Linux only;
    /// elsewhere the file system's own ordering is relied on.
    /// </summary>
    public static void FlushDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux())
            return;
        var fd = Open(directory, 0); // O_RDONLY: enough to fsync a directory on Linux
        if (fd < 0)
            throw new IOException($"open({directory}) failed: {Marshal.GetLastPInvokeErrorMessage()}", Marshal.GetLastPInvokeError());
        try
        {
            if (FSync(fd) != 0)
                throw new IOException($"fsync({directory}) failed: {Marshal.GetLastPInvokeErrorMessage()}", Marshal.GetLastPInvokeError());
        }
        finally
        {
            _ = Close(fd);
        }
    }
}
