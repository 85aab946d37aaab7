using System.Diagnostics;
using System.Runtime.InteropServices;

namespace BuildGrid.Builds.Worker;

/// <summary>
/// Runs a command in its own session (setsid), streams its merged output line by line, and on cancel, timeout or
/// exit kills the whole process group — background jobs the script left behind included — and any descendant.
/// </summary>
public static partial class ProcessRunner
{
    const int SigKill = 9;

    [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);

    public sealed record Result(int ExitCode, bool Killed);

    /// <summary>
    /// Started in the command's process group before it execs: if the worker process dies (even by SIGKILL, when no
    /// code of ours runs), the group is killed within a second, so an orphaned build never runs beside its retry.
    /// </summary>
    const string Watchdog = """
        worker=$PPID; ( while kill -0 "$worker" 2>/dev/null; do sleep 1; done; kill -KILL 0 ) </dev/null >/dev/null 2>&1 &
        exec "$0" "$@"
        """;

    public static async Task<Result> RunAsync(string fileName, IReadOnlyList<string> arguments, string workingDirectory,
        IReadOnlyDictionary<string, string> environment, Action<string> onLine, CancellationToken cancellationToken)
    {
        using var running = Start(fileName, arguments, workingDirectory, environment);
        running.CloseInput();
        return await running.WaitAsync(onLine, cancellationToken);
    }

    /// <summary>
    /// Starts a command as <see cref="RunAsync"/> does, without waiting for it: its input stays open until
    /// <see cref="Running.WriteInput"/> or <see cref="Running.CloseInput"/>, its output is kept until
    /// <see cref="Running.WaitAsync"/> streams it (a sandbox started before its run, <see cref="LocalSandbox"/>).
    /// </summary>
    public static Running Start(string fileName, IReadOnlyList<string> arguments, string workingDirectory,
        IReadOnlyDictionary<string, string> environment)
    {
        // setsid execs in place (our child is not a group leader), so the process id is the new group's id.
        var start = new ProcessStartInfo("setsid", ["bash", "-c", Watchdog, fileName, .. arguments])
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.Environment.Clear();
        foreach (var (key, value) in environment)
            start.Environment[key] = value;
        return new Running(start);
    }

    /// <summary>A started command and its process group; disposing kills the group.</summary>
    public sealed class Running : IDisposable
    {
        readonly Process process;
        readonly int group;
        readonly object gate = new();
        readonly List<string> early = [];
        Action<string>? onLine;
        bool inputClosed;
        bool waited;

        internal Running(ProcessStartInfo start)
        {
            process = new Process { StartInfo = start };
            process.OutputDataReceived += Line;
            process.ErrorDataReceived += Line;
            process.Start();
            group = process.Id;
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        void Line(object _, DataReceivedEventArgs e)
        {
            if (e.Data is null) return;
            lock (gate)
            {
                if (onLine is null) early.Add(e.Data);
                else onLine(e.Data);
            }
        }

        public bool HasExited => process.HasExited;

        /// <summary>Writes <paramref name="text"/> to the command's input and closes it.</summary>
        public void WriteInput(string text)
        {
            if (inputClosed) throw new InvalidOperationException("the input is closed already");
            try
            {
                process.StandardInput.Write(text);
            }
            catch (IOException)
            {
                // The command is gone already; WaitAsync reports how it ended.
            }
            CloseInput();
        }

        public void CloseInput()
        {
            if (inputClosed) return;
            inputClosed = true;
            try { process.StandardInput.Close(); }
            catch (IOException) { }
        }

        /// <summary>Streams the output (what came before first) to <paramref name="lines"/> and waits for the command.</summary>
        public async Task<Result> WaitAsync(Action<string> lines, CancellationToken cancellationToken)
        {
            lock (gate)
            {
                foreach (var line in early) lines(line);
                early.Clear();
                onLine = lines;
            }
            await using (cancellationToken.Register(() => KillGroup(process, group)))
            {
                try
                {
                    await process.WaitForExitAsync(CancellationToken.None).WaitAsync(cancellationToken);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    KillGroup(process, group);
                }
                // Whatever the script started in the background dies with it, so its pipes close and nothing outlives the run.
                KillGroup(process, group);
                await process.WaitForExitAsync(CancellationToken.None);
                waited = true;
            }
            // Callbacks run last-registered-first, so the token, not a flag set in ours, says whether we killed it.
            var killed = cancellationToken.IsCancellationRequested;
            return new Result(killed ? -1 : process.ExitCode, killed);
        }

        public void Dispose()
        {
            // Once waited for, the group was killed already (and its id may belong to someone else by now).
            if (!waited)
                KillGroup(process, group);
            process.Dispose();
        }
    }

    static void KillGroup(Process process, int group)
    {
        _ = Kill(-group, SigKill);
        try
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException) { }
        catch (System.ComponentModel.Win32Exception) { }
    }
}
