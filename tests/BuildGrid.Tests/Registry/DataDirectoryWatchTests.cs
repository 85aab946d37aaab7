using System.Globalization;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Registry;

/// <summary>
/// README's run command keeps its data in <c>./data</c> under the working directory. The host's configuration watcher
/// must not watch that tree: an inotify watch on every blob directory wakes the process on every write a push makes.
/// </summary>
public sealed class DataDirectoryWatchTests : IDisposable
{
    readonly string workingDirectory = TestDirectories.Create("cwd");
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => TestDirectories.TryDelete(workingDirectory);

    [Fact]
    public async Task The_default_data_directory_under_the_working_directory_is_not_watched()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "reads inotify watches from /proc");
        await using var gateway = await ServiceProcess.StartAsync("BuildGrid.Standalone", new Dictionary<string, string>(), workingDirectory);
        var dataDir = Path.Combine(workingDirectory, "data");
        Assert.True(Directory.Exists(dataDir), "the gateway keeps its data in ./data by default");

        // A push creates the blob directories (blobs/sha256/xx), which a recursive watcher would then add.
        using var http = new HttpClient { BaseAddress = gateway.RestUrl };
        var blob = RandomNumberGenerator.GetBytes(4096);
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(blob));
        using (var push = await http.PostAsync($"/v2/team/app/blobs/uploads/?digest={digest}", new ByteArrayContent(blob), Ct))
            Assert.Equal(HttpStatusCode.Created, push.StatusCode);

        var dataInodes = Directory.EnumerateDirectories(dataDir, "*", SearchOption.AllDirectories).Prepend(dataDir).Append(workingDirectory)
            .Select(InodeOf).ToHashSet();
        Assert.True(dataInodes.Count > 3, "the push made blob directories");
        var watched = WatchedInodes(gateway.Id);
        Assert.NotEmpty(watched); // the configuration watcher still runs, on the application's own folder
        Assert.Empty(watched.Intersect(dataInodes));
    }

    /// <summary>The inode numbers of every inotify watch of a process (<c>/proc/&lt;pid&gt;/fdinfo</c>, "ino:" in hex).</summary>
    static HashSet<ulong> WatchedInodes(int pid)
    {
        var inodes = new HashSet<ulong>();
        foreach (var info in Directory.EnumerateFiles($"/proc/{pid}/fdinfo"))
        {
            string[] lines;
            try { lines = File.ReadAllLines(info); }
            catch (IOException) { continue; } // a descriptor closed meanwhile
            foreach (var line in lines.Where(l => l.StartsWith("inotify wd:", StringComparison.Ordinal)))
            {
                var ino = line.Split(' ').First(f => f.StartsWith("ino:", StringComparison.Ordinal))[4..];
                inodes.Add(Convert.ToUInt64(ino, 16));
            }
        }
        return inodes;
    }

    static ulong InodeOf(string path)
    {
        using var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%i", path]) { RedirectStandardOutput = true })!;
        var output = stat.StandardOutput.ReadToEnd();
        stat.WaitForExit();
        return ulong.Parse(output.Trim(), CultureInfo.InvariantCulture);
    }
}
