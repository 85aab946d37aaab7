using System.Runtime.InteropServices;

namespace BuildGrid.Core.Hosting;

/// <summary>
/// The data directory holds password and token hashes, code-host credentials, private images and Garnet's password:
/// every BuildGrid process creates it 0700 and everything in it owner-only. The process umask (077) is set before
/// anything is written, so that SQLite files, blobs, logs and the files of child processes (git, buildah) are created
/// owner-only without each writer remembering to.
/// </summary>
public static class OwnerOnlyFiles
{
    const UnixFileMode OwnerDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    [DllImport("libc", EntryPoint = "umask")]
    static extern uint Umask(uint mask);

    /// <summary>Sets the process umask to 077 (group and others get nothing); idempotent.</summary>
    public static void RestrictUmask()
    {
        if (!OperatingSystem.IsWindows())
            _ = Umask(0x3F);   // umask cannot fail; it answers the previous mask
    }

    /// <summary>Creates <paramref name="path"/> (and missing parents) 0700; an existing directory keeps its mode.</summary>
    public static void CreateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
            Directory.CreateDirectory(path);
        else
            Directory.CreateDirectory(path, OwnerDirectory);
    }

    /// <summary>
    /// Whether group or others may list or write <paramref name="path"/> (an existing data directory from before). Search
    /// permission alone (0711) is not: the build sandbox gives it to the directories above each run's workspace, so that
    /// the run's leased uid can reach its own workspace without listing anything (see the Builds service's LocalSandbox).
    /// </summary>
    public static bool IsOpenToOthers(string path) =>
        !OperatingSystem.IsWindows() && Directory.Exists(path) && (File.GetUnixFileMode(path) & Listable) != 0;

    const UnixFileMode Listable = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;

    /// <summary>The mode as <c>ls -l</c> would print its octal form (0755).</summary>
    public static string Octal(string path) =>
        OperatingSystem.IsWindows() ? "" : "0" + Convert.ToString((int)File.GetUnixFileMode(path) & 0x1FF, 8);
}
