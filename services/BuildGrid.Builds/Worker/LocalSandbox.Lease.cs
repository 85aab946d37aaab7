using System.Globalization;
using BuildGrid.Builds.V1;

namespace BuildGrid.Builds.Worker;

/// <summary>
/// One attempt's sandbox once started: the launcher script (prlimit's limits, then the bwrap arguments: namespaces, the
/// read-only tool root, the workspace and cache binds), <c>buildah bud</c> wrapped the same way, and the ownership hand-over.
/// </summary>
public sealed partial class LocalSandbox
{
    /// <summary>One attempt's sandbox: wraps each command the run executes, and owns the leased uid until disposed.</summary>
    public sealed class Lease : IDisposable
    {
        readonly LocalSandbox sandbox;
        readonly string workspace;
        readonly string cache;
        readonly int? uid;
        bool handedOver;

        internal Lease(LocalSandbox sandbox, RunSandbox record, string workspace, string cache, int? uid)
        {
            this.sandbox = sandbox;
            Record = record;
            this.workspace = workspace;
            this.cache = cache;
            this.uid = uid;
        }

        /// <summary>What the run's API record says about its isolation.</summary>
        public RunSandbox Record { get; }

        /// <summary>Gives the workspace and cache dir to the leased uid (before the script runs), without following links.</summary>
        public async Task HandOverAsync(CancellationToken cancellationToken)
        {
            if (uid is not { } owner)
                return;
            await ChownAsync(owner, cancellationToken);
            handedOver = true;
        }

        /// <summary>
        /// Takes the workspace back for the worker once no process of the sandbox is left: owned by the worker again, and
        /// <c>.buildgrid</c> (where the worker writes next) a plain directory without links the script could have planted.
        /// </summary>
        public async Task TakeBackAsync(CancellationToken cancellationToken)
        {
            if (handedOver)
                await ChownAsync((int)Euid, cancellationToken);
            handedOver = false;
            var meta = Path.Combine(workspace, ".buildgrid");
            var info = new DirectoryInfo(meta);
            if (info.LinkTarget is not null || File.Exists(meta))
                File.Delete(meta);
            Directory.CreateDirectory(meta);
            foreach (var entry in new DirectoryInfo(meta).EnumerateFileSystemInfos())
            {
                if (entry.LinkTarget is not null || entry is DirectoryInfo)
                {
                    if (entry is DirectoryInfo { LinkTarget: null } directory) directory.Delete(recursive: true);
                    else entry.Delete();
                }
            }
        }

        /// <summary>
        /// <c>chown -R -P</c> of the workspace and cache dir, in process (<see cref="Ownership"/>): no process is spawned
        /// on the run's start path, and no link is followed.
        /// </summary>
        Task ChownAsync(int owner, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                Ownership.Change(workspace, owner, owner);
                if (cache != workspace)
                    Ownership.Change(cache, owner, owner);
            }
            catch (IOException e)
            {
                throw new IOException($"the workspace could not be handed to the sandbox's uid {owner} ({e.Message})", e);
            }
            return Task.CompletedTask;
        }

        /// <summary>
        /// Runs <paramref name="file"/> inside this sandbox (as is with Builds:Sandbox=none) and streams its output: in the
        /// sandbox's stub (<see cref="Stub"/>, pre-started when one was warm for this lease) the launcher script sets the
        /// rlimits and execs bwrap with the run's environment (<see cref="Launcher"/>); nothing of the run (its environment, secrets included) is on a
        /// command line.
        /// </summary>
        public async Task<ProcessRunner.Result> RunAsync(string file, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment,
            Action<string> onLine, CancellationToken cancellationToken)
        {
            if (sandbox.Disabled)
                return await ProcessRunner.RunAsync(file, arguments, workspace, environment, onLine, cancellationToken);
            var stub = warm ?? Stub.Start(uid, Record.Network);
            warm = null;
            try
            {
                stub.Process.WriteInput(Launcher(file, arguments, environment));
                return await stub.Process.WaitAsync(onLine, cancellationToken);
            }
            finally
            {
                stub.Dispose();
                // The stub is spent: the next run's starts now, not only when this run's image step is done too.
                sandbox.Warm();
            }
        }

        /// <summary>
        /// What the stub's <c>sh -s</c> reads: the run's environment (exported, single-quoted), the rlimits
        /// (<c>ulimit -v</c>, <c>-p</c> of dash, else <c>prlimit … --</c> before bwrap), then <c>exec bwrap … -- file
        /// arguments</c>. rlimits apply to bwrap and every process of the sandbox; RLIMIT_NPROC counts the leased uid's processes.
        /// </summary>
        string Launcher(string file, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment)
        {
            var script = new System.Text.StringBuilder("set -e\n");
            foreach (var (key, value) in environment)
            {
                if (!System.Text.RegularExpressions.Regex.IsMatch(key, "^[A-Za-z_][A-Za-z0-9_]*$"))
                    throw new RunExecutor.StepFailedException($"'{key}' is not a valid variable name");
                script.Append("export ").Append(key).Append('=').Append(Quote(value)).Append('\n');
            }
            var command = new List<string>();
            if (Tools.ShellSetsLimits)
            {
                // The stub's dash sets the rlimits itself (soft and hard, as prlimit would) before it execs bwrap: one
                // process fewer between the launcher and the script.
                script.Append("ulimit -v ").Append(((long)Record.MemoryLimitMib * 1024).ToString(CultureInfo.InvariantCulture)).Append('\n');
                if (uid is not null)
                    script.Append("ulimit -p ").Append(Record.PidsLimit.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
            else
            {
                command.AddRange([Tools.Prlimit, "--as=" + ((long)Record.MemoryLimitMib * 1024 * 1024).ToString(CultureInfo.InvariantCulture)]);
                if (uid is not null)
                    command.Add("--nproc=" + Record.PidsLimit.ToString(CultureInfo.InvariantCulture));
                command.Add("--");
            }
            command.AddRange(Bwrap());
            command.Add(file);
            command.AddRange(arguments);
            script.Append("exec");
            foreach (var word in command)
                script.Append(' ').Append(Quote(word));
            return script.Append('\n').ToString();
        }

        static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

        /// <summary>A warm stub handed to this lease by <see cref="Open"/>, until <see cref="RunAsync"/> uses it.</summary>
        internal Stub? warm;

        List<string> Bwrap()
        {
            var id = Record.Uid.ToString(CultureInfo.InvariantCulture);
            var args = new List<string>
            {
                Tools.Bwrap, "--die-with-parent", "--new-session", "--unshare-user", "--uid", id, "--gid", id,
                "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "buildgrid-run",
            };
            if (Record.Network == "none")
                args.Add("--unshare-net");
            ToolRoot(args);
            args.AddRange(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp", "--tmpfs", "/run"]);
            // BuildGrid's data dir is an empty tmpfs inside (even where it lies under a bound tree); only this run's
            // workspace and cache dir are bound into it, read-write.
            args.AddRange(["--tmpfs", sandbox.DataDir]);
            if (sandbox.RunRootOutsideDataDir)
                args.AddRange(["--tmpfs", sandbox.RunRoot]);
            args.AddRange(["--bind", workspace, workspace]);
            if (cache != workspace)
                args.AddRange(["--bind", cache, cache]);
            args.AddRange(["--chdir", workspace, "--"]);
            return args;
        }

        /// <summary>Whether <c>buildah bud</c> runs sandboxed (the worker runs as root and the sandbox is on).</summary>
        public bool IsolatesBuildah => !sandbox.Disabled && Euid == 0;

        /// <summary>
        /// The command line of <c>buildah bud</c>. buildah runs as the worker (root: its image storage is shared), in
        /// bwrap's mount, PID, IPC, UTS and network namespaces with only the capabilities <c>--isolation chroot</c> needs,
        /// seeing the tools, its storage, the workspace and the step's auth directory, and no network at all: the worker
        /// pulls every image bud reads before, and pushes after. The Dockerfile's RUN steps run inside that.
        /// </summary>
        public (string File, IReadOnlyList<string> Arguments) WrapBuildah(string buildah, IReadOnlyList<string> arguments, string storage, string auth)
        {
            if (!IsolatesBuildah)
                return (buildah, arguments);
            var args = new List<string> { "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--hostname", "buildgrid-run" };
            foreach (var capability in BuildahCapabilities)
                args.AddRange(["--cap-add", "CAP_" + capability]);
            ToolRoot(args);
            Directory.CreateDirectory(Path.Combine(storage, "tmp"));
            // buildah writes lock files under /etc/containers/networks: /etc/containers is a tmpfs holding the host's
            // configuration (policy.json, registries.conf …) read-only and a writable, empty networks directory.
            if (Directory.Exists("/etc/containers"))
            {
                args.AddRange(["--tmpfs", "/etc/containers"]);
                foreach (var entry in Directory.EnumerateFileSystemEntries("/etc/containers"))
                {
                    if (Path.GetFileName(entry) is not ("networks" or "auth.json"))
                        args.AddRange(["--ro-bind", entry, entry]);
                }
                args.AddRange(["--dir", "/etc/containers/networks"]);
            }
            args.AddRange(["--proc", "/proc", "--dev", "/dev", "--ro-bind", "/sys", "/sys",
                "--tmpfs", "/tmp", "--tmpfs", "/run", "--bind", Path.Combine(storage, "tmp"), "/var/tmp",
                "--tmpfs", sandbox.DataDir]);
            if (sandbox.RunRootOutsideDataDir)
                args.AddRange(["--tmpfs", sandbox.RunRoot]);
            args.AddRange(["--bind", storage, storage, "--bind", workspace, workspace]);
            if (Directory.Exists(auth))
                args.AddRange(["--ro-bind", auth, auth]);
            args.AddRange(["--chdir", workspace, "--setenv", "TMPDIR", "/var/tmp", "--", buildah]);
            args.AddRange(arguments);
            return (Tools.Bwrap, args);
        }

        /// <summary>The read-only tool root: the host's /usr, /bin, /sbin, /lib*, and /etc without its secrets.</summary>
        static void ToolRoot(List<string> args)
        {
            args.AddRange(["--ro-bind", "/usr", "/usr"]);
            foreach (var top in new[] { "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32" })
            {
                var info = new FileInfo(top);
                if (info.LinkTarget is { } target)
                    args.AddRange(["--symlink", target, top]);
                else if (Directory.Exists(top))
                    args.AddRange(["--ro-bind", top, top]);
            }
            args.AddRange(["--ro-bind", "/etc", "/etc"]);
            foreach (var hidden in HiddenEtc.Select(h => "/etc/" + h))
            {
                if (Directory.Exists(hidden)) args.AddRange(["--tmpfs", hidden]);
                else if (File.Exists(hidden)) args.AddRange(["--ro-bind", "/dev/null", hidden]);
            }
        }

        static readonly string[] BuildahCapabilities =
            ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "SYS_CHROOT", "SYS_ADMIN", "SETFCAP", "NET_BIND_SERVICE", "AUDIT_WRITE"];

        public void Dispose()
        {
            warm?.Dispose();
            warm = null;
            if (uid is { } leased)
                sandbox.Release(leased);
            sandbox.Warm();
        }
    }
}
