using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Hosting;
using Microsoft.Extensions.Options;

namespace BuildGrid.Builds.Worker;

/// <summary>
/// The local-sandbox executor's isolation (see SANDBOX.md beside this file): every build script runs under bubblewrap
/// (<c>bwrap</c>) in its own user, mount, PID, IPC, UTS and network namespaces, as an unprivileged uid leased to the run
/// from a pool (<see cref="BuildsOptions.SandboxUidBase"/>, applied with <c>setpriv</c>, no capabilities), seeing only
/// the host's tools read-only, a filtered <c>/etc</c>, a private <c>/tmp</c>, its own <c>/proc</c>, its workspace and its
/// cache dir. Its network is pasta's (outbound only: the host's loopback, its own addresses and link-local/metadata
/// addresses are unreachable) or none. Limits are rlimits (<c>prlimit</c>: address space, processes of the leased uid);
/// CPU is not limited, and the run records that its limits were not enforced. A sandbox starts as a <see cref="Stub"/>
/// (setpriv, pasta and its routes, then <c>sh -s</c> waiting) that the run's launcher script turns into prlimit and bwrap;
/// an idle worker keeps <see cref="BuildsOptions.WarmSandboxes"/> stubs started ahead (SANDBOX.md, "How a sandbox starts").
/// </summary>
public sealed partial class LocalSandbox(BuildGridSettings settings, IOptions<BuildsOptions> options) : IDisposable
{
    public const string Executor = "local-sandbox";

    [DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEuid();

    static readonly uint Euid = OperatingSystem.IsLinux() ? GetEuid() : 1;

    /// <summary>Why the sandbox cannot run on this machine, when the start-up check found so (Builds:WithoutSandbox=fail-runs).</summary>
    public string? Unavailable { get; internal set; }

    /// <summary>Whether scripts run unsandboxed (Builds:Sandbox=none, development only).</summary>
    public bool Disabled => string.Equals(options.Value.Sandbox, "none", StringComparison.OrdinalIgnoreCase);

    readonly Lazy<string> runRoot = new(() => ChooseRunRoot(settings, options.Value));

    /// <summary>Where runs keep their workspaces, caches, image storage and auth files (<see cref="BuildsOptions.RunRoot"/>).</summary>
    public string RunRoot => runRoot.Value;

    /// <summary>Whether <see cref="RunRoot"/> lies outside the data dir (and must be hidden inside the sandbox on its own).</summary>
    bool RunRootOutsideDataDir => !IsUnder(RunRoot, Path.GetFullPath(settings.DataDir));

    static string ChooseRunRoot(BuildGridSettings settings, BuildsOptions options)
    {
        if (options.RunRoot.Length > 0)
            return Prepared(Path.GetFullPath(options.RunRoot));
        var dataDir = Path.GetFullPath(settings.DataDir);
        var inside = Path.Combine(dataDir, "builds");
        if (OperatingSystem.IsWindows() || Euid != 0 || string.Equals(options.Sandbox, "none", StringComparison.OrdinalIgnoreCase) || AncestorsSearchable(dataDir))
            return inside;
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(dataDir)))[..16];
        return Prepared(Path.Combine("/var/lib/buildgrid/runs", hash));
    }

    /// <summary>Whether others may search every directory above <paramref name="path"/> (what the leased uid needs to reach it).</summary>
    static bool AncestorsSearchable(string path)
    {
        if (OperatingSystem.IsWindows())
            return true;
        for (var dir = Path.GetDirectoryName(path); dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if ((File.GetUnixFileMode(dir) & UnixFileMode.OtherExecute) == 0)
                return false;
        }
        return true;
    }

    /// <summary>Creates a run root outside the data dir: each directory of it the worker creates is 0711 (searchable, not listable).</summary>
    static string Prepared(string root)
    {
        if (OperatingSystem.IsWindows())
            return root;
        var missing = new Stack<string>();
        for (var dir = root; dir is not null && !Directory.Exists(dir); dir = Path.GetDirectoryName(dir))
            missing.Push(dir);
        const UnixFileMode Searchable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        foreach (var dir in missing)
        {
            Directory.CreateDirectory(dir);
            File.SetUnixFileMode(dir, Searchable);
        }
        return root;
    }

    static bool IsUnder(string path, string root) =>
        path == root || path.StartsWith(root.TrimEnd('/') + "/", StringComparison.Ordinal);

    readonly ConcurrentQueue<int> freeUids = new(Enumerable.Range(0, options.Value.SandboxUids).Select(i => options.Value.SandboxUidBase + i));

    /// <summary>Files under <c>/etc</c> no run sees: password hashes, sudo rules, SSH host keys, TLS private keys, registry logins.</summary>
    static readonly string[] HiddenEtc =
    [
        "shadow", "shadow-", "gshadow", "gshadow-", "sudoers", "sudoers.d", "ssh", "ssl/private", "containers/auth.json",
        "security/opasswd", "buildgrid",
    ];

    /// <summary>
    /// Refuses to start the worker when the sandbox cannot run: a missing tool or a kernel that forbids the namespaces.
    /// Starts a real sandbox (both network modes) running <c>true</c>; throws with a one-line reason.
    /// </summary>
    public async Task CheckAsync(CancellationToken cancellationToken)
    {
        foreach (var tool in Euid == 0 ? new[] { "bwrap", "setpriv", "prlimit", "pasta", "ip" } : ["bwrap", "prlimit", "pasta", "ip"])
        {
            if (Find(tool) is null)
                throw new StartupException(
                    $"Builds: the build sandbox needs '{tool}' on PATH (apt-get install bubblewrap passt iproute2 util-linux); set Builds:Sandbox=none only for development");
        }
        var probe = Path.Combine(RunRoot, "workspaces", $"sandbox-check-{Guid.NewGuid():N}");
        Directory.CreateDirectory(probe);
        try
        {
            foreach (var network in new[] { "none", "" })
            {
                using var lease = Open(probe, probe, new RunSpec { Network = network });
                await lease.HandOverAsync(cancellationToken);
                var lines = new List<string>();
                var result = await lease.RunAsync("true", [], new Dictionary<string, string> { ["PATH"] = DefaultPath }, lines.Add, cancellationToken);
                if (result.ExitCode != 0)
                    throw new StartupException(
                        $"Builds: the build sandbox cannot start (bwrap{(network == "" ? " with pasta" : "")} exited with {result.ExitCode}: {string.Join(" ", lines).Trim()}); " +
                        "this machine must allow unprivileged user namespaces (kernel.unprivileged_userns_clone=1); set Builds:Sandbox=none only for development");
            }
            passedCheck = true;
        }
        finally
        {
            try { Directory.Delete(probe, recursive: true); }
            catch (IOException) { }
        }
    }

    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>
    /// The sandbox of one attempt: leases a uid (when the worker runs as root), hands the workspace and cache dir to it, and
    /// takes them back on dispose. Throws <see cref="RunExecutor.StepFailed"/> when every uid of the pool is in use.
    /// </summary>
    public Lease Open(string workspace, string cache, RunSpec spec)
    {
        if (Unavailable is { } reason)
            throw new RunExecutor.StepFailed($"this worker cannot sandbox builds, so it runs none: {reason}");
        var value = options.Value;
        var memory = spec.Resources?.MemoryLimitMib > 0 ? spec.Resources.MemoryLimitMib : value.DefaultMemoryMiB;
        var pids = spec.Resources?.PidsLimit > 0 ? spec.Resources.PidsLimit : value.DefaultPids;
        var cpu = spec.Resources?.CpuLimitMillicores > 0 ? spec.Resources.CpuLimitMillicores : value.DefaultCpuMillicores;
        var record = new RunSandbox
        {
            Executor = Disabled ? "none" : Executor, Network = Disabled ? "host" : spec.Network == "none" ? "none" : "pasta",
            MemoryLimitMib = memory, PidsLimit = pids, CpuLimitMillicores = cpu, Limits = Disabled ? "none" : "rlimit", LimitsEnforced = false,
        };
        if (Disabled)
            return new Lease(this, record, workspace, cache, uid: null);
        if (Euid == 0)
            AllowTraverse(workspace, cache);
        // A run with a script on the default network gets a warm stub (its uid is the lease's) when one is ready.
        if (record.Network == "pasta" && spec.Script.Length > 0 && TakeWarm() is { } stub)
        {
            record.Uid = (int)(stub.Uid ?? (int)Euid);
            return new Lease(this, record, workspace, cache, stub.Uid) { warm = stub };
        }
        int? uid = null;
        if (Euid == 0)
        {
            if (!freeUids.TryDequeue(out var leased))
                throw new RunExecutor.StepFailed($"every sandbox uid is in use ({value.SandboxUids} from {value.SandboxUidBase}); raise Builds:SandboxUids");
            uid = leased;
        }
        record.Uid = (int)(uid ?? (int)Euid);
        return new Lease(this, record, workspace, cache, uid);
    }

    void Release(int uid) => freeUids.Enqueue(uid);

    /// <summary>
    /// bwrap binds the workspace and cache dir as the leased uid, which must therefore reach them: the directories above
    /// them in the data dir (or in the run root, <see cref="RunRoot"/>) get search permission for others (0711: no
    /// listing), their files stay 0600. Inside the sandbox the data dir and the run root are empty tmpfs anyway.
    /// </summary>
    void AllowTraverse(params string[] paths)
    {
        if (OperatingSystem.IsWindows())
            return;
        // Up to the data dir (whose parents others may search), or up to a run root outside it (made searchable).
        var root = RunRootOutsideDataDir ? RunRoot : Path.GetFullPath(settings.DataDir);
        foreach (var path in paths)
        {
            for (var dir = Path.GetDirectoryName(Path.GetFullPath(path)); dir is not null && dir.Length >= root.Length; dir = Path.GetDirectoryName(dir))
            {
                var mode = File.GetUnixFileMode(dir);
                if ((mode & UnixFileMode.OtherExecute) == 0)
                    File.SetUnixFileMode(dir, mode | UnixFileMode.OtherExecute);
            }
        }
    }

    string DataDir => settings.DataDir;

    /// <summary>
    /// The outer part of a sandbox, started before its command is known: <c>env --default-signal</c>, <c>setpriv</c> to the
    /// leased uid, and for the default network pasta with its routes; then <c>sh -s</c>, which waits for the launcher
    /// script (<see cref="Lease.RunAsync"/>) on its input. Nothing of a run is in it until then: no workspace, no
    /// environment, no mount namespace (bwrap starts from the launcher, for that run only).
    /// </summary>
    internal sealed class Stub : IDisposable
    {
        Stub(ProcessRunner.Running process, int? uid, string routes) => (Process, Uid, RouteScript) = (process, uid, routes);

        public ProcessRunner.Running Process { get; }
        public int? Uid { get; }
        /// <summary>The routes it was started with: a warm stub whose host addresses changed since is not used.</summary>
        public string RouteScript { get; }

        public static Stub Start(int? uid, string network)
        {
            // The worker (.NET) ignores SIGPIPE, and an ignored signal stays ignored across exec: pasta refuses to start
            // so ("Couldn't install signal handlers") and a script's `yes | head` would misbehave. Every signal is reset.
            var command = new List<string> { "--default-signal" };
            if (uid is { } leased)
            {
                var id = leased.ToString(CultureInfo.InvariantCulture);
                command.AddRange([Tools.Setpriv, $"--reuid={id}", $"--regid={id}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"]);
            }
            var routes = "";
            if (network == "pasta")
            {
                // pasta (passt) gives the namespace outbound TCP/UDP through the host's sockets: no port is forwarded in
                // either direction (-t/-u/-T/-U none), the gateway is not mapped to the host (--no-map-gw); the routes
                // refuse link-local (cloud metadata) and this host's own addresses before the launcher is read.
                routes = Routes();
                command.AddRange([Tools.Pasta, "--config-net", "--quiet", "-t", "none", "-u", "none", "-T", "none", "-U", "none", "--no-map-gw", "--",
                    Tools.Sh, "-c", routes + $"exec {Tools.Sh} -s\n", "sh"]);
            }
            else
                command.AddRange([Tools.Sh, "-s"]);
            return new Stub(ProcessRunner.Start(Tools.Env, command, "/", new Dictionary<string, string> { ["PATH"] = DefaultPath }), uid, routes);
        }

        /// <summary>
        /// The commands pasta runs in the new namespace before anything of the run: one <c>ip -batch</c> (one process, not one per address)
        /// adds every prohibit route, and any failure stops the run before the script starts. IPv6 routes are added
        /// wherever the kernel has IPv6 at all (the namespace then has it too).
        /// </summary>
        internal static string Routes()
        {
            var routes = new List<string> { "route replace prohibit 169.254.0.0/16" };
            var ipv6 = System.Net.Sockets.Socket.OSSupportsIPv6;
            if (ipv6)
                routes.Add("route replace prohibit fe80::/10");
            foreach (var address in System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
                .SelectMany(n => n.GetIPProperties().UnicastAddresses).Select(u => u.Address)
                .Where(a => !System.Net.IPAddress.IsLoopback(a) && !a.IsIPv6LinkLocal).Distinct())
            {
                if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
                {
                    if (ipv6 && !address.IsIPv4MappedToIPv6) routes.Add($"route replace prohibit {address}/128");
                }
                else
                    routes.Add($"route replace prohibit {address}/32");
            }
            return $"set -e\n{Tools.Ip} -batch - <<'ROUTES'\n{string.Join('\n', routes)}\nROUTES\n";
        }

        public void Dispose() => Process.Dispose();
    }

    readonly ConcurrentQueue<Stub> warmStubs = new();
    int warmCount;
    bool disposed;
    /// <summary>Set once <see cref="CheckAsync"/> has started a real sandbox of each network mode.</summary>
    volatile bool passedCheck;

    /// <summary>
    /// Starts default-network stubs until <see cref="BuildsOptions.WarmSandboxes"/> are ready (in the background): at
    /// worker start, and whenever a run's sandbox is done, so the next run's is warm while the worker idles.
    /// </summary>
    public void Warm()
    {
        if (!passedCheck || Disabled || Unavailable is not null || disposed || options.Value.Workers == 0)
            return;
        while (Interlocked.Increment(ref warmCount) <= options.Value.WarmSandboxes)
        {
            int? uid = null;
            if (Euid == 0)
            {
                if (!freeUids.TryDequeue(out var leased))
                    break;
                uid = leased;
            }
            _ = Task.Run(() =>
            {
                try
                {
                    warmStubs.Enqueue(Stub.Start(uid, "pasta"));
                    if (disposed) Drain();
                }
                catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
                {
                    if (uid is { } u) Release(u);
                    Interlocked.Decrement(ref warmCount);
                }
            });
        }
        Interlocked.Decrement(ref warmCount);
    }

    /// <summary>A warm stub that is alive and has this host's current routes, or null.</summary>
    Stub? TakeWarm()
    {
        while (warmStubs.TryDequeue(out var stub))
        {
            Interlocked.Decrement(ref warmCount);
            if (!stub.Process.HasExited && stub.RouteScript == Stub.Routes())
                return stub;
            Discard(stub);
        }
        return null;
    }

    void Discard(Stub stub)
    {
        stub.Dispose();
        if (stub.Uid is { } uid) Release(uid);
    }

    void Drain()
    {
        while (warmStubs.TryDequeue(out var stub))
            Discard(stub);
    }

    /// <summary>Kills the warm stubs (the host stops).</summary>
    public void Dispose()
    {
        disposed = true;
        Drain();
    }


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
        /// sandbox's stub (<see cref="Stub"/>, pre-started when one was warm for this lease) the launcher script execs
        /// prlimit and bwrap with the run's environment; nothing of the run (its environment, secrets included) is on a
        /// command line.
        /// </summary>
        public async Task<ProcessRunner.Result> RunAsync(string file, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment,
            Action<string> onLine, CancellationToken cancellationToken)
        {
            if (sandbox.Disabled)
                return await ProcessRunner.RunAsync(file, arguments, workspace, environment, onLine, cancellationToken);
            var stub = warm ?? Stub.Start(uid, Record.Network);
            warm = null;
            using (stub)
            {
                stub.Process.WriteInput(Launcher(file, arguments, environment));
                return await stub.Process.WaitAsync(onLine, cancellationToken);
            }
        }

        /// <summary>
        /// What the stub's <c>sh -s</c> reads: the run's environment (exported, single-quoted), then
        /// <c>exec prlimit … -- bwrap … -- file arguments</c>. rlimits apply to bwrap and every process of the sandbox;
        /// RLIMIT_NPROC counts the leased uid's processes.
        /// </summary>
        string Launcher(string file, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment)
        {
            var script = new System.Text.StringBuilder("set -e\n");
            foreach (var (key, value) in environment)
            {
                if (!System.Text.RegularExpressions.Regex.IsMatch(key, "^[A-Za-z_][A-Za-z0-9_]*$"))
                    throw new RunExecutor.StepFailed($"'{key}' is not a valid variable name");
                script.Append("export ").Append(key).Append('=').Append(Quote(value)).Append('\n');
            }
            var command = new List<string> { Tools.Prlimit, "--as=" + ((long)Record.MemoryLimitMib * 1024 * 1024).ToString(CultureInfo.InvariantCulture) };
            if (uid is not null)
                command.Add("--nproc=" + Record.PidsLimit.ToString(CultureInfo.InvariantCulture));
            command.Add("--");
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

    /// <summary>The sandbox's tools by absolute path, found once: no PATH search for each of them on every run's start.</summary>
    static class Tools
    {
        public static readonly string Prlimit = Find("prlimit") ?? "prlimit";
        public static readonly string Env = Find("env") ?? "env";
        public static readonly string Setpriv = Find("setpriv") ?? "setpriv";
        public static readonly string Pasta = Find("pasta") ?? "pasta";
        public static readonly string Sh = Find("sh") ?? "sh";
        public static readonly string Ip = Find("ip") ?? "ip";
        public static readonly string Bwrap = Find("bwrap") ?? "bwrap";
    }

    static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") + ":" + DefaultPath).Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
}

/// <summary>
/// Stops a worker process (Builds:Workers above 0) at start when its sandbox cannot run, with one line saying why, so that
/// no build ever runs unsandboxed by accident; warns on every start with Builds:Sandbox=none.
/// </summary>
public sealed class SandboxCheck(LocalSandbox sandbox, IOptions<BuildsOptions> options, ILogger<SandboxCheck> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.Workers == 0)
            return;
        if (sandbox.Disabled)
        {
            Log.Unsandboxed(logger);
            return;
        }
        try
        {
            await sandbox.CheckAsync(cancellationToken);
            sandbox.Warm();
        }
        catch (InvalidOperationException e)
        {
            if (options.Value.WithoutSandbox == "fail-runs")
            {
                sandbox.Unavailable = e.Message.TrimEnd('.');
                Log.SandboxUnavailableRunsFail(logger, sandbox.Unavailable);
                return;
            }
            Log.SandboxUnavailable(logger, e.Message);
            throw;
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
