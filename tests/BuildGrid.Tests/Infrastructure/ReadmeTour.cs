using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace BuildGrid.Tests.Infrastructure;

/// <summary>
/// The documentation's tours, as written: the shell blocks of a Markdown file marked <c>&lt;!-- tour:NAME --&gt;</c> …
/// <c>&lt;!-- /tour --&gt;</c> are taken out of that file and run, in order, as one <c>bash -e</c> script, so that a tour
/// that stops working fails a test. Each area's tour lives in the README beside its code; the test names the file.
/// </summary>
public static partial class ReadmeTour
{
    [GeneratedRegex(@"<!-- tour:(?<name>[a-z-]+) -->\s*```(?:sh|bash)\n(?<script>.*?)```\s*<!-- /tour -->", RegexOptions.Singleline)]
    private static partial Regex TourBlock();

    /// <summary>
    /// The blocks of tour <paramref name="name"/> in <paramref name="document"/> (a path from the repository root, such as
    /// <c>services/BuildGrid.Builds/README.md</c>), in the file's order.
    /// </summary>
    public static async Task<IReadOnlyList<string>> BlocksAsync(string document, string name, CancellationToken cancellationToken)
    {
        var text = await File.ReadAllTextAsync(Path.Combine(TestDirectories.RepositoryRoot, document), cancellationToken);
        return TourBlock().Matches(text).Where(m => m.Groups["name"].Value == name).Select(m => m.Groups["script"].Value).ToList();
    }

    /// <summary>The names of the tours <paramref name="text"/> marks, each once, in order.</summary>
    public static IReadOnlyList<string> NamesIn(string text) =>
        TourMarker().Matches(text).Select(m => m.Groups["name"].Value).Distinct().ToList();

    [GeneratedRegex(@"<!-- tour:(?<name>[a-z-]+) -->")]
    private static partial Regex TourMarker();

    /// <summary>
    /// A buildah/skopeo storage of the test's own under <paramref name="workDirectory"/> (vfs), not the machine's: the
    /// environment entry that points the tour's tools at it.
    /// </summary>
    public static async Task<KeyValuePair<string, string>> OwnStorageAsync(string workDirectory, CancellationToken cancellationToken)
    {
        var storageConf = Path.Combine(workDirectory, "storage.conf");
        await File.WriteAllTextAsync(storageConf,
            $"[storage]\ndriver = \"vfs\"\ngraphroot = \"{workDirectory}/storage\"\nrunroot = \"{workDirectory}/run\"\n", cancellationToken);
        return new("CONTAINERS_STORAGE_CONF", storageConf);
    }

    /// <summary>
    /// Runs the blocks as one <c>bash -e</c> script in <paramref name="workDirectory"/>; answers its exit code and its
    /// output (standard error lines prefixed <c>stderr: </c>). Fails the test when it does not end within
    /// <paramref name="timeout"/>.
    /// </summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(IEnumerable<string> blocks, string workDirectory,
        IReadOnlyDictionary<string, string> environment, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("bash", ["-e", "-c", string.Join("\n", blocks)])
        {
            WorkingDirectory = workDirectory, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (var (key, value) in environment)
            start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine("stderr: " + e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            deadline.CancelAfter(timeout);
            try { await process.WaitForExitAsync(deadline.Token); }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"the tour did not finish in {timeout.TotalMinutes:0.#} minutes:\n{output}");
            }
        }
        process.WaitForExit();
        lock (output)
            return (process.ExitCode, output.ToString());
    }
}
