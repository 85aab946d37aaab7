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
/// This file holds the uid pool, the run root and the start-up check; <c>.Stubs</c> how a sandbox starts, <c>.Lease</c>
/// what one attempt's sandbox runs.
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
    /// takes them back on dispose. Throws <see cref="RunExecutor.StepFailedException"/> when every uid of the pool is in use.
    /// </summary>
    public Lease Open(string workspace, string cache, RunSpec spec)
    {
        if (Unavailable is { } reason)
            throw new RunExecutor.StepFailedException($"this worker cannot sandbox builds, so it runs none: {reason}");
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
                throw new RunExecutor.StepFailedException($"every sandbox uid is in use ({value.SandboxUids} from {value.SandboxUidBase}); raise Builds:SandboxUids");
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

    /// <summary>The sandbox's tools by absolute path, found once: no PATH search for each of them on every run's start.</summary>
    static class Tools
    {
        public static readonly string Prlimit = Find("prlimit") ?? "prlimit";
        public static readonly string Env = Find("env") ?? "env";
        public static readonly string Setpriv = Find("setpriv") ?? "setpriv";
        public static readonly string Pasta = Find("pasta") ?? "pasta";
        /// <summary>The stubs' shell: dash where it is installed (its <c>ulimit</c> sets RLIMIT_AS and RLIMIT_NPROC), else sh.</summary>
        public static readonly string Sh = Find("dash") ?? Find("sh") ?? "sh";
        /// <summary>
        /// Whether <see cref="Sh"/> is dash, whose <c>ulimit -v</c> (KiB) and <c>-p</c> set RLIMIT_AS and RLIMIT_NPROC;
        /// another shell's launcher runs <c>prlimit</c> instead (bash's <c>-p</c>, for one, is the pipe size).
        /// </summary>
        public static readonly bool ShellSetsLimits = IsDash(Sh);
        public static readonly string Ip = Find("ip") ?? "ip";
        public static readonly string Bwrap = Find("bwrap") ?? "bwrap";
    }

    static bool IsDash(string shell)
    {
        try
        {
            return Path.GetFileName(new FileInfo(shell).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? shell) == "dash";
        }
        catch (IOException)
        {
            return false;
        }
    }

    static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") + ":" + DefaultPath).Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
}
