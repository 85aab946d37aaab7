namespace BuildGrid.Tests.Infrastructure;

public static class TestDirectories
{
    /// <summary>A fresh directory under the system temp folder, removed by the caller's fixture.</summary>
    public static string Create(string prefix)
    {
        var path = Path.Combine(Path.GetTempPath(), "buildgrid-tests", $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
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
