using System.Text.RegularExpressions;

namespace BuildGrid.Builds.Worker;

/// <summary>
/// What one step of a run printed, as its failure reason needs it: the last lines (masked as the log is), and for
/// <c>buildah bud</c> the Dockerfile step it was in (<c>STEP 2/3: RUN make</c>). Every line still goes to the run's log.
/// </summary>
public sealed partial class StepOutput(RunLog log, int keep = 6)
{
    const int MaxLineLength = 200;
    readonly Queue<string> tail = new();

    [GeneratedRegex(@"^STEP (\d+)/(\d+): (.*)$")]
    private static partial Regex BudStep();

    /// <summary>The last <c>STEP n/m: …</c> line buildah printed, or null before the first.</summary>
    public string? DockerfileStep { get; private set; }

    /// <summary>Whether the current Dockerfile step is a <c>FROM</c>: a failure there is a base-image pull.</summary>
    public bool InFrom => DockerfileStep is { } step && BudStep().Match(step) is { Success: true } m
        && m.Groups[3].Value.StartsWith("FROM ", StringComparison.OrdinalIgnoreCase);

    /// <summary>The image of the current <c>FROM</c> step.</summary>
    public string? FromImage => InFrom && BudStep().Match(DockerfileStep!) is { } m
        ? m.Groups[3].Value[5..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(w => !w.StartsWith("--", StringComparison.Ordinal))
        : null;

    /// <summary>Enters a Dockerfile step (<c>STEP n/m: FROM …</c>) that BuildGrid performs itself (a base-image pull before bud).</summary>
    public void Enter(string step)
    {
        DockerfileStep = step;
        tail.Clear();
    }

    public void Write(string line)
    {
        log.Write(line);
        if (BudStep().IsMatch(line))
        {
            DockerfileStep = line;
            tail.Clear();
        }
        if (line.Trim().Length == 0)
            return;
        tail.Enqueue(line.Length > MaxLineLength ? line[..MaxLineLength] + "…" : line);
        while (tail.Count > keep)
            tail.Dequeue();
    }

    /// <summary>The reason of a failed step: what failed, then its last lines of output, quoted and masked.</summary>
    public string Reason(string what)
    {
        var lines = tail.Select(l => "  > " + log.Mask(l)).ToList();
        return lines.Count == 0 ? $"{what} (it printed nothing)" : $"{what}; its last output:\n{string.Join('\n', lines)}";
    }
}
