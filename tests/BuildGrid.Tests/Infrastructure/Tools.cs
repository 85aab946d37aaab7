using System.Diagnostics;

namespace BuildGrid.Tests.Infrastructure;

/// <summary>External programs the tests drive for real (installed by .ci/run with apt).</summary>
public static class Tools
{
    public static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);

    /// <summary>Skips the test (with the install command) when a program is missing, instead of failing obscurely.</summary>
    public static string Require(string name, string package) =>
        Find(name) ?? throw Xunit.Sdk.SkipException.ForSkip($"{name} is not installed (apt-get install {package}); .ci/run installs it");

    public static async Task<(int ExitCode, string Output)> RunAsync(string fileName, string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo(fileName, arguments)
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.Environment["GIT_AUTHOR_NAME"] = start.Environment["GIT_COMMITTER_NAME"] = "BuildGrid Tests";
        start.Environment["GIT_AUTHOR_EMAIL"] = start.Environment["GIT_COMMITTER_EMAIL"] = "tests@buildgrid.local";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await error);
    }

    public static async Task<string> RunOkAsync(string fileName, string workingDirectory, params string[] arguments)
    {
        var (code, output) = await RunAsync(fileName, workingDirectory, arguments);
        if (code != 0)
            throw new InvalidOperationException($"{fileName} {string.Join(' ', arguments)} exited {code}: {output}");
        return output;
    }

    /// <summary>Processes whose command line contains <paramref name="marker"/> (to prove a run left nothing behind).</summary>
    public static IReadOnlyList<int> ProcessesWith(string marker)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (cmdline.Contains(marker, StringComparison.Ordinal)) found.Add(pid);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }
}
