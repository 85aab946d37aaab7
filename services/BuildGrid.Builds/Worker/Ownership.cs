using System.Runtime.InteropServices;

namespace BuildGrid.Builds.Worker;

/// <summary>
/// <c>chown -R -P</c> in process (no process spawned on a run's start path): gives a tree to a uid and gid without
/// following a symbolic link anywhere. Every directory is opened relative to its already opened parent with
/// <c>O_NOFOLLOW</c>, and every other entry changed with <c>fchownat(AT_SYMLINK_NOFOLLOW)</c> relative to it, so that a
/// directory swapped for a link while the walk runs (by a script of a run sharing the cache dir) is changed itself, never
/// what it points to — as <c>chown -R -P</c>'s walk does. Linux only (glibc's <c>dirent</c> layout on 64-bit targets).
/// </summary>
static class Ownership
{
    [DllImport("libc", SetLastError = true)]
    private static extern int openat(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

    [DllImport("libc", SetLastError = true)]
    private static extern int fchownat(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint owner, uint group, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int fchown(int fd, uint owner, uint group);

    [DllImport("libc", SetLastError = true)]
    private static extern IntPtr fdopendir(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern IntPtr readdir(IntPtr dir);

    [DllImport("libc")]
    private static extern int closedir(IntPtr dir);

    [DllImport("libc")]
    private static extern int close(int fd);

    [DllImport("libc")]
    private static extern int dup(int fd);

    const int AtFdCwd = -100;
    const int AtSymlinkNoFollow = 0x100;
    const int OCloexec = 0x80000;
    // O_DIRECTORY and O_NOFOLLOW differ between x86-64 and arm64 (the generic ABI).
    static readonly bool Generic = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.RiscV64 or Architecture.LoongArch64;
    static readonly int ODirectory = Generic ? 0x4000 : 0x10000;
    static readonly int ONoFollow = Generic ? 0x8000 : 0x20000;
    const byte DtDir = 4;
    const byte DtUnknown = 0;
    // struct dirent on 64-bit glibc: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
    const int DTypeOffset = 18;
    const int DNameOffset = 19;

    /// <summary>Changes the owner of <paramref name="root"/> (a directory, or a link, which is changed itself) and everything under it.</summary>
    public static void Change(string root, int uid, int gid)
    {
        var fd = openat(AtFdCwd, root, OpenDirectory, 0);
        if (fd < 0)
        {
            var error = Marshal.GetLastPInvokeError();
            if (error is Eloop or Enotdir)
            {
                Check(fchownat(AtFdCwd, root, (uint)uid, (uint)gid, AtSymlinkNoFollow), root);
                return;
            }
            throw Failure(root, error);
        }
        Walk(fd, root, (uint)uid, (uint)gid);
    }

    const int Eloop = 40;
    const int Enotdir = 20;
    const int Enoent = 2;

    // O_NONBLOCK: an entry swapped for a FIFO never blocks the walk (O_DIRECTORY refuses it anyway).
    static int OpenDirectory => ODirectory | ONoFollow | OCloexec | 0x800;

    /// <summary>Changes the directory open as <paramref name="fd"/> and its contents; closes <paramref name="fd"/>.</summary>
    static void Walk(int fd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint uid, uint gid)
    {
        var names = new List<(string Name, byte Type)>();
        try
        {
            Check(fchown(fd, uid, gid), path);
            var copy = dup(fd);
            var dir = fdopendir(copy);
            if (dir == IntPtr.Zero)
            {
                _ = close(copy);   // a failed close of a directory opened read-only loses nothing
                throw Failure(path, Marshal.GetLastPInvokeError());
            }
            try
            {
                for (var entry = readdir(dir); entry != IntPtr.Zero; entry = readdir(dir))
                {
                    var name = Marshal.PtrToStringUTF8(entry + DNameOffset)!;
                    if (name is "." or "..") continue;
                    names.Add((name, Marshal.ReadByte(entry + DTypeOffset)));
                }
            }
            finally
            {
                _ = closedir(dir);
            }
            foreach (var (name, type) in names)
            {
                var child = path + "/" + name;
                if (type is DtDir or DtUnknown)
                {
                    var sub = openat(fd, name, OpenDirectory, 0);
                    if (sub >= 0)
                    {
                        Walk(sub, child, uid, gid);
                        continue;
                    }
                    var error = Marshal.GetLastPInvokeError();
                    if (error == Enoent) continue;
                    if (error is not (Eloop or Enotdir)) throw Failure(child, error);
                }
                if (fchownat(fd, name, uid, gid, AtSymlinkNoFollow) != 0 && Marshal.GetLastPInvokeError() != Enoent)
                    throw Failure(child, Marshal.GetLastPInvokeError());
            }
        }
        finally
        {
            _ = close(fd);
        }
    }

    static void Check(int result, string path)
    {
        if (result != 0)
            throw Failure(path, Marshal.GetLastPInvokeError());
    }

    static IOException Failure([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int error) =>
        new($"{path}: {Marshal.GetPInvokeErrorMessage(error)}");
}
