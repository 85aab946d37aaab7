namespace BuildGrid.Tests.Infrastructure;

public static class TestDirectories
{
    /// <summary>
    /// A fresh directory under the system temp folder, removed by the caller's fixture. It and its parent are 0755, as
    /// the parents of a data directory normally are (/var/lib, /srv): in-process hosts set this process's umask to 077,
    /// and the build sandbox's leased uid must be able to search the directories above its workspace. (A data dir under
    /// a 0700 parent is tested on its own: SandboxRunRootTests.)
    /// </summary>
    public static string Create(string prefix)
    {
        var parent = Path.Combine(Path.GetTempPath(), "buildgrid-tests");
        var path = Path.Combine(parent, $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        if (!OperatingSystem.IsWindows())
        {
            const UnixFileMode Open = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead
                | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
            File.SetUnixFileMode(parent, Open);
            File.SetUnixFileMode(path, Open);
        }
        return path;
    }

    public static void TryDelete(string path)
    {
        try { Directory.Delete(path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>The repository root (holds BuildGrid.sln), found from the test assembly's folder.</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "BuildGrid.sln")))
                    return dir.FullName;
            }
            throw new InvalidOperationException("BuildGrid.sln not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>"Debug" or "Release": the configuration this test assembly was built in, for finding sibling outputs.</summary>
    public static string Configuration => new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
}
