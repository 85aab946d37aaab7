using System.Text.RegularExpressions;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Operations;

/// <summary>
/// The documentation as a map: README.md stays short and points at the area documents beside the code, every tour in
/// those documents is run by a test, and no link leads to a file that is not there or outside the repository.
/// </summary>
public sealed partial class ReadmeMapTests
{
    /// <summary>Every tour and the file it must be in; each test that runs one names the same file.</summary>
    static readonly (string Document, string Tour)[] Tours =
    [
        (Builds.ReadmeTourTests.Document, "build"),
        (Registry.RegistryReadmeTourTests.Document, "registry"),
        (Zadig.ZadigReadmeTourTests.Document, "zadig"),
    ];

    static string Root => TestDirectories.RepositoryRoot;

    /// <summary>The repository's Markdown files (paths from the root, '/'-separated), build output and data left out.</summary>
    static IEnumerable<string> Documents()
    {
        var pending = new Stack<string>([Root]);
        while (pending.TryPop(out var directory))
        {
            foreach (var file in Directory.EnumerateFiles(directory, "*.md"))
                yield return Path.GetRelativePath(Root, file).Replace(Path.DirectorySeparatorChar, '/');
            foreach (var child in Directory.EnumerateDirectories(directory))
            {
                var name = Path.GetFileName(child);
                if (name is "bin" or "obj" or "node_modules" || name.StartsWith('.') || (directory == Root && name == "data"))
                    continue;
                pending.Push(child);
            }
        }
    }

    [Fact]
    public void The_README_is_a_map_with_the_two_set_up_commands()
    {
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        Assert.True(new FileInfo(Path.Combine(Root, "README.md")).Length <= 25 * 1024, "README.md is a map: at most 25 KB");
        Assert.Contains("```sh\ndotnet run --project gateway/BuildGrid.Standalone\n```", readme);
        Assert.Contains("```sh\ntests/run\n```", readme);
        Assert.Empty(ReadmeTour.NamesIn(readme));
    }

    [Fact]
    public void Every_tour_is_where_its_test_reads_it()
    {
        var found = Documents().SelectMany(d => ReadmeTour.NamesIn(File.ReadAllText(Path.Combine(Root, d))).Select(t => (d, t)))
            .Order().ToList();
        Assert.Equal(Tours.Order().ToList(), found);
    }

    [GeneratedRegex(@"\]\((?<target>[^)\s#]*)(?:#[^)\s]*)?\)")]
    private static partial Regex Link();

    [Fact]
    public void Every_relative_link_leads_to_a_file_of_the_repository()
    {
        var broken = new List<string>();
        foreach (var document in Documents())
        {
            var text = File.ReadAllText(Path.Combine(Root, document));
            foreach (Match link in Link().Matches(text))
            {
                var target = link.Groups["target"].Value;
                if (target.Length == 0 || target.Contains("://") || target.StartsWith("mailto:", StringComparison.Ordinal))
                    continue;
                var path = Path.GetFullPath(Path.Combine(Root, Path.GetDirectoryName(document) ?? "", target));
                if (!(path == Root || path.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal)) || !(File.Exists(path) || Directory.Exists(path)))
                    broken.Add($"{document}: {target}");
            }
        }
        Assert.Empty(broken);
    }

    /// <summary>A Markdown file's name, with any folders before it.</summary>
    [GeneratedRegex(@"(?<![\w./-])(?<path>(?:[\w.-]+/)*[\w.-]+\.md)\b")]
    private static partial Regex MarkdownName();

    /// <summary>A path that climbs out of the document's folder.</summary>
    [GeneratedRegex(@"(?<![\w./-])(?<path>(?:\.\./)+[\w./-]*)")]
    private static partial Regex ClimbingPath();

    [GeneratedRegex(@"\b[Ii]ssue \d+")]
    private static partial Regex IssueNumber();

    /// <summary>
    /// Nothing a maintainer cannot open: every path that climbs folders stays inside the repository, every Markdown file
    /// named is one of the repository's (by its path from the document or the root, or by its name), and no document
    /// names a tracker's issue number instead of saying the thing.
    /// </summary>
    [Fact]
    public void No_document_points_outside_the_repository()
    {
        var documents = Documents().ToList();
        var names = documents.Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        var hits = new List<string>();
        foreach (var document in documents)
        {
            var text = File.ReadAllText(Path.Combine(Root, document));
            var folder = Path.Combine(Root, Path.GetDirectoryName(document) ?? "");
            foreach (Match climb in ClimbingPath().Matches(text))
            {
                var path = Path.GetFullPath(Path.Combine(folder, climb.Groups["path"].Value));
                if (!(path == Root || path.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal)))
                    hits.Add($"{document}: {climb.Value} leaves the repository");
            }
            foreach (Match named in MarkdownName().Matches(text))
            {
                var path = named.Groups["path"].Value;
                if (!File.Exists(Path.Combine(folder, path)) && !File.Exists(Path.Combine(Root, path)) && !names.Contains(Path.GetFileName(path)))
                    hits.Add($"{document}: {path} is no file of the repository");
            }
            hits.AddRange(IssueNumber().Matches(text).Select(m => $"{document}: {m.Value}"));
        }
        Assert.Empty(hits);
    }
}
