using System.Text.RegularExpressions;
using BuildGrid.Builds.Storage;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Hosting;
using BuildGrid.Core.Identity;
using Microsoft.Extensions.Options;

namespace BuildGrid.Builds.Worker;

/// <summary>
/// Executes one attempt of a run in a fresh workspace: check out each repository (git), run the script (bash -e) with
/// parameters and built-in variables, collect outputs, then build the image with buildah and push it to the registry.
/// Throws nothing for a failing build: the outcome says how it ended.
/// </summary>
public sealed partial class RunExecutor(BuildGridSettings settings, BuildGridEndpoints endpoints, IOptions<BuildsOptions> options, RegistryTokens tokens)
{
    public sealed class StepFailed(string message) : Exception(message);

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex VariableName();

    [GeneratedRegex(@"[^A-Za-z0-9._-]")]
    private static partial Regex Unsafe();

    public string RegistryHost => options.Value.Registry is { Length: > 0 } configured ? configured : endpoints.RestUri.Authority;

    public async Task<RunStore.Outcome> ExecuteAsync(Run run, RunSpec spec, RunLog log, CancellationToken cancel, CancellationToken timeout)
    {
        var root = Path.Combine(settings.DataDir, "builds");
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

            if (spec.Script.Length > 0)
            {
                var script = Path.Combine(meta, "script.sh");
                await File.WriteAllTextAsync(script, spec.Script, linked.Token);
                log.Write("[buildgrid] running the build script");
                var result = await ProcessRunner.RunAsync("bash", ["--noprofile", "--norc", "-e", script], workspace, environment, log.Write, linked.Token);
                if (result.Killed) linked.Token.ThrowIfCancellationRequested();
                if (result.ExitCode != 0)
                    throw new StepFailed($"build script exited with code {result.ExitCode}");
                foreach (var line in File.Exists(environment["BUILDGRID_OUTPUTS"]) ? await File.ReadAllLinesAsync(environment["BUILDGRID_OUTPUTS"], linked.Token) : [])
                {
                    var equals = line.IndexOf('=');
                    if (equals > 0 && spec.Outputs.Contains(line[..equals]))
                        outputs[line[..equals]] = log.Mask(line[(equals + 1)..]);
                }
            }

            var digest = "";
            if (spec.DockerBuild is { Image.Length: > 0 } docker)
                digest = await BuildImageAsync(run, docker, workspace, meta, environment, log, linked.Token);
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
        catch (StepFailed e)
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

    Dictionary<string, string> BaseEnvironment(Run run, RunSpec spec, string workspace, string meta)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ["HOME"] = workspace,
            ["LANG"] = "C.UTF-8",
            ["GIT_TERMINAL_PROMPT"] = "0",
        };
        foreach (var (key, value) in spec.Env.Concat(spec.Secrets))
        {
            if (!VariableName().IsMatch(key))
                throw new StepFailed($"'{key}' is not a valid variable name");
            environment[key] = value;
        }
        var cache = Path.Combine(settings.DataDir, "builds", "cache", spec.CacheKey.Length > 0 ? Unsafe().Replace(spec.CacheKey, "_") : run.Id);
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
            throw new StepFailed($"repository {index} has no usable folder name");
        log.Write($"[buildgrid] git clone {url} ({(repo.Branch.Length > 0 ? repo.Branch : "default branch")}) into {name}");
        string[] clone = repo.Branch.Length > 0
            ? ["clone", "--quiet", "--depth", "50", "--branch", repo.Branch, "--single-branch", "--", url, name]
            : ["clone", "--quiet", "--depth", "50", "--", url, name];
        var prompt = secret is null ? null : await AskPass.CreateAsync(Path.Combine(settings.DataDir, "builds", "askpass"), username!, secret, cancellationToken);
        ProcessRunner.Result result;
        try
        {
            var cloneEnvironment = prompt is null ? environment : prompt.Environment(environment);
            result = await ProcessRunner.RunAsync("git", clone, workspace, cloneEnvironment, log.Write, cancellationToken);
        }
        finally
        {
            prompt?.Dispose();
        }
        if (result.Killed) cancellationToken.ThrowIfCancellationRequested();
        if (result.ExitCode != 0)
            throw new StepFailed($"git clone of {url} failed with code {result.ExitCode}");
        var lines = new List<string>();
        await ProcessRunner.RunAsync("git", ["rev-parse", "HEAD"], Path.Combine(workspace, name), environment, lines.Add, cancellationToken);
        var branch = new List<string>();
        await ProcessRunner.RunAsync("git", ["rev-parse", "--abbrev-ref", "HEAD"], Path.Combine(workspace, name), environment, branch.Add, cancellationToken);
        var commit = lines.FirstOrDefault(l => l.Length == 40) ?? "";
        log.Write($"[buildgrid] {name} at {commit}");
        return new RepoCheckout { Name = name, Branch = repo.Branch.Length > 0 ? repo.Branch : branch.FirstOrDefault() ?? "", Commit = commit };
    }

    async Task<string> BuildImageAsync(Run run, DockerBuild docker, string workspace, string meta, Dictionary<string, string> environment,
        RunLog log, CancellationToken cancellationToken)
    {
        var buildah = FindOnPath("buildah")
            ?? throw new StepFailed("buildah is not installed: image builds need buildah on PATH (apt-get install buildah)");
        var storage = Path.Combine(settings.DataDir, "builds", "containers");
        string[] global = ["--root", Path.Combine(storage, "storage"), "--runroot", Path.Combine(storage, "run"), "--storage-driver", "vfs"];
        var dockerfile = docker.DockerfileContent.Length > 0
            ? Path.Combine(meta, "Dockerfile")
            : Path.GetFullPath(Path.Combine(workspace, docker.Dockerfile.Length > 0 ? docker.Dockerfile : "Dockerfile"));
        if (docker.DockerfileContent.Length > 0)
            await File.WriteAllTextAsync(dockerfile, docker.DockerfileContent, cancellationToken);
        var context = Path.GetFullPath(Path.Combine(workspace, docker.Context.Length > 0 ? docker.Context : "."));
        if (!context.StartsWith(workspace, StringComparison.Ordinal) || !dockerfile.StartsWith(workspace, StringComparison.Ordinal))
            throw new StepFailed("the build context and Dockerfile must be inside the workspace");
        if (!File.Exists(dockerfile))
            throw new StepFailed($"Dockerfile not found: {Path.GetRelativePath(workspace, dockerfile)}");

        var local = $"localhost/buildgrid-{run.Id}:{run.Attempt}";
        var target = $"{RegistryHost}/{docker.Image}";
        List<string> bud = [.. global, "bud", "--isolation", "chroot", "--layers", "-f", dockerfile, "-t", local];
        foreach (var arg in docker.BuildArgs) { bud.Add("--build-arg"); bud.Add(arg); }
        if (docker.Platforms.Count > 0) { bud.Add("--platform"); bud.Add(string.Join(',', docker.Platforms)); }
        bud.Add(context);
        log.Write($"[buildgrid] buildah bud -t {target}");
        var built = await ProcessRunner.RunAsync(buildah, bud, workspace, environment, log.Write, cancellationToken);
        if (built.Killed) cancellationToken.ThrowIfCancellationRequested();
        if (built.ExitCode != 0)
            throw new StepFailed($"buildah bud failed with code {built.ExitCode}");
        try
        {
            var digestFile = Path.Combine(meta, "digest");
            log.Write($"[buildgrid] buildah push {target}");
            // Credentials for exactly this repository, minted here with the installation's service key and handed to buildah
            // alone: never logged, never written anywhere. Registries that do not ask for credentials never see them.
            var pushed = await ProcessRunner.RunAsync(buildah,
                [.. global, "push", "--tls-verify=false", "--creds", PushCredentials(docker.Image), "--digestfile", digestFile, local, $"docker://{target}"],
                workspace, environment, log.Write, cancellationToken);
            if (pushed.Killed) cancellationToken.ThrowIfCancellationRequested();
            if (pushed.ExitCode != 0)
                throw new StepFailed($"buildah push to {target} failed with code {pushed.ExitCode}");
            var digest = (await File.ReadAllTextAsync(digestFile, cancellationToken)).Trim();
            log.Write($"[buildgrid] pushed {target}@{digest}");
            return digest;
        }
        finally
        {
            await ProcessRunner.RunAsync(buildah, [.. global, "rmi", "-f", local], workspace, environment, _ => { }, CancellationToken.None);
        }
    }

    /// <summary>How long the push token of a run lives: the push starts at once, but a large image takes a while.</summary>
    static readonly TimeSpan PushTokenLifetime = TimeSpan.FromMinutes(30);

    /// <summary>
    /// <c>user:password</c> for buildah: a registry token as the password (the registry accepts a token in place of a
    /// password), issued to <c>service:builds</c> and granting pull and push on the image's repository only.
    /// </summary>
    string PushCredentials(string image)
    {
        var repository = RepositoryOf(image);
        var (token, _, _) = tokens.Issue(Principal.Service("builds"), [new RegistryAccess("repository", repository, ["pull", "push"])], PushTokenLifetime);
        return $"buildgrid-builds:{token}";
    }

    /// <summary>The repository of an image reference without the registry host: <c>team/app:v1</c> and <c>team/app@sha256:…</c> are <c>team/app</c>.</summary>
    internal static string RepositoryOf(string image)
    {
        var name = image.Split('@', 2)[0];
        var colon = name.LastIndexOf(':');
        return colon > name.LastIndexOf('/') ? name[..colon] : name;
    }

    static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
}
