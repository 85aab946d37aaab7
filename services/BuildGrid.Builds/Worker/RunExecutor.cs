using System.Text.RegularExpressions;
using BuildGrid.Builds.Storage;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Hosting;
using BuildGrid.Core.Identity;
using Microsoft.Extensions.Options;

namespace BuildGrid.Builds.Worker;

/// <summary>The executor seam: runs one attempt of a run and says how it ended (Builds:Executor; local-sandbox only, for now).</summary>
public interface IRunExecutor
{
    Task<RunStore.Outcome> ExecuteAsync(Run run, RunSpec spec, RunLog log, CancellationToken cancel, CancellationToken timeout);
}

/// <summary>
/// The local-sandbox executor: one attempt of a run in a fresh workspace: check out each repository (git, as the worker),
/// run the script (bash -e) with parameters and built-in variables inside the run's <see cref="LocalSandbox"/>, collect
/// outputs, then build the image with buildah (sandboxed too) and push it to the registry.
/// Throws nothing for a failing build: the outcome says how it ended. This file holds the attempt's steps up to the
/// script (workspace, environment, checkouts); <c>.Image</c> the image step, <c>.Registries</c> its registry set-up.
/// </summary>
public sealed partial class RunExecutor(BuildGridEndpoints endpoints, IOptions<BuildsOptions> options, RegistryTokens tokens,
    IEnumerable<Action<RegistriesConfig>> registriesConfigurers, LocalSandbox sandbox, RunStore store) : IRunExecutor
{
    public sealed class StepFailedException(string message) : Exception(message);

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex VariableName();

    [GeneratedRegex(@"[^A-Za-z0-9._-]")]
    private static partial Regex Unsafe();

    public string RegistryHost => options.Value.Registry is { Length: > 0 } configured ? configured : endpoints.RestUri.Authority;

    public async Task<RunStore.Outcome> ExecuteAsync(Run run, RunSpec spec, RunLog log, CancellationToken cancel, CancellationToken timeout)
    {
        var root = sandbox.RunRoot;
        var workspace = Path.Combine(root, "workspaces", $"{run.Id}-{run.Attempt}");
        var checkouts = new List<RepoCheckout>();
        var outputs = new Dictionary<string, string>();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancel, timeout);
        try
        {
            Directory.CreateDirectory(workspace);
            var meta = Directory.CreateDirectory(Path.Combine(workspace, ".buildgrid")).FullName;
            var environment = BaseEnvironment(run, spec, workspace, meta);

            for (var i = 0; i < spec.Repos.Count; i++)
            {
                var checkout = await CheckoutAsync(spec.Repos[i], i, workspace, environment, log, linked.Token);
                checkouts.Add(checkout);
                environment[$"REPONAME_{i}"] = checkout.Name;
                environment[$"BRANCH_{i}"] = checkout.Branch;
                environment[$"COMMIT_{i}"] = checkout.Commit;
            }

            using var lease = sandbox.Open(workspace, environment["CACHE_DIR"], spec);
            await store.RecordSandboxAsync(run, run.Worker, lease.Record, linked.Token);
            log.Write(Describe(lease.Record));

            if (spec.Script.Length > 0)
            {
                var script = Path.Combine(meta, "script.sh");
                await File.WriteAllTextAsync(script, spec.Script, linked.Token);
                log.Write("[buildgrid] running the build script");
                var output = new StepOutput(log);
                await lease.HandOverAsync(linked.Token);
                var result = await lease.RunAsync("bash", ["--noprofile", "--norc", "-e", script], environment, output.Write, linked.Token);
                // Every process of the sandbox is gone now; the worker takes the workspace back before it reads or writes there.
                await lease.TakeBackAsync(CancellationToken.None);
                if (result.Killed) linked.Token.ThrowIfCancellationRequested();
                if (result.ExitCode != 0)
                    throw new StepFailedException(output.Reason($"build script exited with code {result.ExitCode}"));
                foreach (var line in File.Exists(environment["BUILDGRID_OUTPUTS"]) ? await File.ReadAllLinesAsync(environment["BUILDGRID_OUTPUTS"], linked.Token) : [])
                {
                    var equals = line.IndexOf('=');
                    if (equals > 0 && spec.Outputs.Contains(line[..equals]))
                        outputs[line[..equals]] = log.Mask(line[(equals + 1)..]);
                }
            }

            var digest = "";
            if (spec.DockerBuild is { Image.Length: > 0 } docker)
                digest = await BuildImageAsync(run, spec, docker, workspace, meta, environment, lease, log, linked.Token);
            log.Write("[buildgrid] succeeded");
            return new RunStore.Outcome(RunState.Succeeded, digest, "", outputs, checkouts);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            var limit = Domain.RunRules.Describe(Domain.RunRules.Timeout(spec));
            log.Write($"[buildgrid] timed out after {limit}; every process of the run was killed");
            return new RunStore.Outcome(RunState.TimedOut, "", $"timed out after {limit}", outputs, checkouts);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            log.Write("[buildgrid] cancelled; every process of the run was killed");
            return new RunStore.Outcome(RunState.Cancelled, "", "cancelled", outputs, checkouts);
        }
        catch (StepFailedException e)
        {
            log.Write($"[buildgrid] failed: {e.Message}");
            return new RunStore.Outcome(RunState.Failed, "", log.Mask(e.Message), outputs, checkouts);
        }
        catch (IOException e)
        {
            log.Write($"[buildgrid] failed: {e.Message}");
            return new RunStore.Outcome(RunState.Failed, "", log.Mask(e.Message), outputs, checkouts);
        }
        finally
        {
            if (!options.Value.KeepWorkspaces)
            {
                try { Directory.Delete(workspace, recursive: true); }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
        }
    }

    static string Describe(RunSandbox sandbox) => sandbox.Executor == "none"
        ? "[buildgrid] UNSANDBOXED: Builds:Sandbox=none (development only); the script runs as the worker's own user and can reach everything it can"
        : $"[buildgrid] sandbox: {sandbox.Executor}, uid {sandbox.Uid}, network {sandbox.Network}, limits ({sandbox.Limits}, " +
          (sandbox.LimitsEnforced ? "enforced" : "not enforced") + $"): memory {sandbox.MemoryLimitMib} MiB, {sandbox.PidsLimit} processes, " +
          (sandbox.CpuLimitMillicores > 0 ? $"cpu {sandbox.CpuLimitMillicores}m" + (sandbox.LimitsEnforced ? "" : " (not limited)") : "cpu unlimited");

    Dictionary<string, string> BaseEnvironment(Run run, RunSpec spec, string workspace, string meta)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ["HOME"] = workspace,
            ["LANG"] = "C.UTF-8",
            ["GIT_TERMINAL_PROMPT"] = "0",
            ["TMPDIR"] = "/tmp",
        };
        foreach (var (key, value) in spec.Env.Concat(spec.Secrets))
        {
            if (!VariableName().IsMatch(key))
                throw new StepFailedException($"'{key}' is not a valid variable name");
            environment[key] = value;
        }
        var cache = Path.Combine(sandbox.RunRoot, "cache", spec.CacheKey.Length > 0 ? Unsafe().Replace(spec.CacheKey, "_") : run.Id);
        Directory.CreateDirectory(cache);
        environment["WORKSPACE"] = workspace;
        environment["TASK_ID"] = run.Id;
        environment["BUILD_ATTEMPT"] = run.Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture);
        environment["PROJECT"] = run.Project;
        environment["BUILD_NAME"] = run.Definition;
        environment["SERVICE"] = run.Service;
        environment["SERVICE_MODULE"] = run.ServiceModule;
        environment["IMAGE"] = run.Image;
        environment["CACHE_DIR"] = cache;
        environment["BUILDGRID_OUTPUTS"] = Path.Combine(meta, "outputs");
        return environment;
    }

    /// <summary>
    /// Clones one repository. Its credentials (a code host's token, a URL's user info) never reach git's command line
    /// or environment: git asks a prompt helper (GIT_ASKPASS) that reads them from files in a directory private to this
    /// clone (0700, files 0600, outside the workspace), removed when the clone ends; configured credential helpers are
    /// switched off, so git stores them nowhere. The log and failure reasons show the URL without them.
    /// </summary>
    async Task<RepoCheckout> CheckoutAsync(RepoSpec repo, int index, string workspace, Dictionary<string, string> environment, RunLog log,
        CancellationToken cancellationToken)
    {
        var (url, username, secret) = Domain.GitCredentials.Split(repo.Url);
        if (repo.Password.Length > 0)
            (username, secret) = (repo.Username.Length > 0 ? repo.Username : Domain.GitCredentials.DefaultUsername, repo.Password);
        var name = repo.Name.Length > 0 ? repo.Name : Path.GetFileNameWithoutExtension(url.TrimEnd('/'));
        if (name.Length == 0 || name.Contains('/') || name.Contains("..", StringComparison.Ordinal))
            throw new StepFailedException($"repository {index} has no usable folder name");
        log.Write($"[buildgrid] git clone {url} ({(repo.Branch.Length > 0 ? repo.Branch : "default branch")}) into {name}");
        string[] clone = repo.Branch.Length > 0
            ? ["clone", "--quiet", "--depth", "50", "--branch", repo.Branch, "--single-branch", "--", url, name]
            : ["clone", "--quiet", "--depth", "50", "--", url, name];
        var prompt = secret is null ? null : await AskPass.CreateAsync(Path.Combine(sandbox.RunRoot, "askpass"), username!, secret, cancellationToken);
        var output = new StepOutput(log);
        ProcessRunner.Result result;
        try
        {
            var cloneEnvironment = prompt is null ? environment : prompt.Environment(environment);
            result = await ProcessRunner.RunAsync("git", clone, workspace, cloneEnvironment, output.Write, cancellationToken);
        }
        finally
        {
            prompt?.Dispose();
        }
        if (result.Killed) cancellationToken.ThrowIfCancellationRequested();
        if (result.ExitCode != 0)
            throw new StepFailedException(output.Reason($"checkout of {url} failed (git clone exited with code {result.ExitCode})"));
        // One git process for both: the commit, then the branch's short name (one line each).
        var lines = new List<string>();
        await ProcessRunner.RunAsync("git", ["rev-parse", "HEAD", "--abbrev-ref", "HEAD"], Path.Combine(workspace, name), environment, lines.Add, cancellationToken);
        var commit = lines.FirstOrDefault(l => l.Length == 40) ?? "";
        log.Write($"[buildgrid] {name} at {commit}");
        return new RepoCheckout { Name = name, Branch = repo.Branch.Length > 0 ? repo.Branch : lines.Skip(1).FirstOrDefault() ?? "", Commit = commit };
    }
}
