namespace BuildGrid.Tests.Infrastructure;

/// <summary>A local bare git repository with one commit of the given files, cloned by URL file://...</summary>
public sealed class GitRepository : IDisposable
{
    readonly string root = TestDirectories.Create("git");

    public string Url { get; private set; } = "";
    public string Commit { get; private set; } = "";

    public static async Task<GitRepository> CreateAsync(string branch, IReadOnlyDictionary<string, string> files)
    {
        var git = Tools.Require("git", "git");
        var repo = new GitRepository();
        var work = Path.Combine(repo.root, "work");
        Directory.CreateDirectory(work);
        await Tools.RunOkAsync(git, work, "init", "--quiet", "--initial-branch", branch);
        foreach (var (path, content) in files)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(work, path))!);
            await File.WriteAllTextAsync(Path.Combine(work, path), content);
        }
        await Tools.RunOkAsync(git, work, "add", "-A");
        await Tools.RunOkAsync(git, work, "commit", "--quiet", "-m", "first");
        repo.Commit = (await Tools.RunOkAsync(git, work, "rev-parse", "HEAD")).Trim();
        var bare = Path.Combine(repo.root, "app.git");
        await Tools.RunOkAsync(git, repo.root, "clone", "--quiet", "--bare", work, bare);
        repo.Url = "file://" + bare;
        return repo;
    }

    public void Dispose() => TestDirectories.TryDelete(root);
}
