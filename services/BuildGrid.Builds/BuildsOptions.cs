using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace BuildGrid.Builds;

/// <summary>Build engine settings, bound from the "Builds" section (env: Builds__Workers=4, ...).</summary>
public sealed partial class BuildsOptions : IValidatableObject
{
    [System.Text.RegularExpressions.GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")]
    private static partial System.Text.RegularExpressions.Regex Namespace();

    /// <summary>Runs this process executes at once (0: this process only serves the API).</summary>
    [Range(0, 64)]
    public int Workers { get; set; } = 2;

    /// <summary>A running run's lease; a worker renews it every third of this. A lapsed lease means the worker died.</summary>
    [Range(typeof(TimeSpan), "00:00:02", "01:00:00")]
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Executions of one run at most (a run whose worker died is retried until then, then failed).</summary>
    [Range(1, 10)]
    public int MaxAttempts { get; set; } = 2;

    [Range(1, 1440)]
    public int DefaultTimeoutMinutes { get; set; } = 60;

    /// <summary>Where images are pushed (host:port); empty: this BuildGrid's own registry (its REST listener).</summary>
    public string Registry { get; set; } = "";

    /// <summary>
    /// Registries (<c>host[:port]</c>) that builds reach over plain HTTP (or TLS without verification), besides BuildGrid's
    /// own registry, which always is: <c>Builds__InsecureRegistries__0=registry.lan:5000</c>. Written into each run's
    /// own registries.conf; nothing under /etc is read for it or changed.
    /// </summary>
    public List<string> InsecureRegistries { get; set; } = [];

    /// <summary>
    /// Builder-wide mirrors: a registry as images name it (<c>docker.io</c>, <c>quay.io</c>) → a pull-through cache
    /// namespace of BuildGrid's own registry (<c>Registry:ProxyCache:&lt;namespace&gt;</c>):
    /// <c>Builds__Mirror__docker.io=hub</c>. Each run's registries.conf then lists <c>&lt;BuildGrid's registry&gt;/hub</c>
    /// as a mirror of docker.io, so <c>FROM alpine:3.20</c> (docker.io/library/alpine) is pulled through the cache with
    /// no change to the Dockerfile, with the run's own scoped pull token, and fresh for every run (as a base from
    /// BuildGrid's registry). A docker.io mirror also makes docker.io the registry short names are searched in.
    /// </summary>
    public Dictionary<string, string> Mirror { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// On shutdown (SIGTERM) the worker takes no new runs and gives running ones this long to finish; then it kills
    /// them and queues them again at once for their next attempt. Keep Kubernetes' terminationGracePeriodSeconds above it.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(25);

    /// <summary>Keep workspaces after a run (for debugging); they are removed by default.</summary>
    public bool KeepWorkspaces { get; set; }

    /// <summary>Log lines stored per run; the rest is dropped with a note.</summary>
    [Range(100, 10_000_000)]
    public int MaxLogLines { get; set; } = 100_000;

    /// <summary>How often the reaper checks leases and re-queues runs Redis lost.</summary>
    [Range(typeof(TimeSpan), "00:00:00.200", "00:10:00")]
    public TimeSpan ReaperInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How runs execute: <c>local-sandbox</c> (the only executor; SANDBOX.md describes a Kubernetes one).</summary>
    public string Executor { get; set; } = Worker.LocalSandbox.Executor;

    /// <summary>
    /// <c>bwrap</c> (default): every run executes in a bubblewrap sandbox (SANDBOX.md). <c>none</c>: build scripts run
    /// unsandboxed as the worker's own user, which lets any build read and change BuildGrid's data — development only;
    /// the worker logs a warning at start and every run records executor "none".
    /// </summary>
    public string Sandbox { get; set; } = "bwrap";

    /// <summary>
    /// Where runs keep their workspaces, cache dirs, image storage and auth files. Default: <c>{data}/builds</c>; when
    /// the worker runs as root and a directory above the data dir does not let others search it (a data dir under
    /// <c>/root</c>, mode 0700), the leased uid could not reach its workspace there, so runs live in
    /// <c>/var/lib/buildgrid/runs/&lt;hash of the data dir&gt;</c> instead (0711, owned by the worker).
    /// </summary>
    public string RunRoot { get; set; } = "";

    /// <summary>
    /// What a worker does when the sandbox cannot run on this machine (a missing tool, a kernel without user namespaces):
    /// <c>refuse</c> (default for a Builds process) — the process does not start, saying why; <c>fail-runs</c> (default of
    /// the standalone gateway, which serves everything else too) — it starts, and every run fails at once with that
    /// reason. Never does a run execute unsandboxed because of it.
    /// </summary>
    public string WithoutSandbox { get; set; } = "refuse";

    /// <summary>The first uid of the pool leased to runs (one per running attempt) when the worker runs as root.</summary>
    [Range(1000, 2_000_000_000)]
    public int SandboxUidBase { get; set; } = 420_000;

    /// <summary>Uids in the pool: attempts running at once on this worker at most.</summary>
    [Range(1, 65_536)]
    public int SandboxUids { get; set; } = 256;

    /// <summary>
    /// Sandboxes kept started ahead of runs (default network): the network namespace, its pasta and its routes are up,
    /// under a leased uid, before a run is claimed, so that a run's script starts without waiting for them. Each holds one
    /// uid of the pool and one idle pasta process (about 30 MB); 0 starts every sandbox with its run.
    /// </summary>
    [Range(0, 64)]
    public int WarmSandboxes { get; set; } = 1;

    /// <summary>Memory of a run whose definition sets none (Zadig resource_spec.memory_limit, MiB), e.g. image-market builds.</summary>
    [Range(16, 1_048_576)]
    public int DefaultMemoryMiB { get; set; } = 4096;

    /// <summary>Processes of a run whose definition sets none.</summary>
    [Range(16, 1_000_000)]
    public int DefaultPids { get; set; } = 1024;

    /// <summary>CPU of a run whose definition sets none (millicores; 0: unlimited). Enforced only with cgroup v2.</summary>
    [Range(0, 1_024_000)]
    public int DefaultCpuMillicores { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var registry in InsecureRegistries.Where(r => !Worker.RegistriesConfig.IsValidLocation(r)))
            yield return new ValidationResult($"Builds:InsecureRegistries: '{registry}' is not a registry location (host[:port])", [nameof(InsecureRegistries)]);
        foreach (var (registry, ns) in Mirror)
        {
            if (!Worker.RegistriesConfig.IsValidLocation(registry) || registry.Contains('/'))
                yield return new ValidationResult($"Builds:Mirror:{registry}: '{registry}' is not a registry (host[:port], such as docker.io)", [nameof(Mirror)]);
            if (!Namespace().IsMatch(ns ?? ""))
                yield return new ValidationResult($"Builds:Mirror:{registry}: '{ns}' is not a namespace of BuildGrid's registry "
                    + "(one lower-case component: a-z0-9 joined by '.', '_', '__' or '-'); name the pull-through cache namespace", [nameof(Mirror)]);
        }
        if (Executor != Worker.LocalSandbox.Executor)
            yield return new ValidationResult($"Builds:Executor: '{Executor}' is not an executor (local-sandbox)", [nameof(Executor)]);
        if (WithoutSandbox is not ("refuse" or "fail-runs"))
            yield return new ValidationResult($"Builds:WithoutSandbox: '{WithoutSandbox}' is not one of refuse, fail-runs", [nameof(WithoutSandbox)]);
        if (Sandbox is not ("bwrap" or "none"))
            yield return new ValidationResult($"Builds:Sandbox: '{Sandbox}' is not a sandbox (bwrap, or none for development)", [nameof(Sandbox)]);
    }
}

[OptionsValidator]
internal sealed partial class BuildsOptionsValidator : IValidateOptions<BuildsOptions>;
