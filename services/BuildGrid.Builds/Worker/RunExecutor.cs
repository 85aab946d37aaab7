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
/// Throws nothing for a failing build: the outcome says how it ended.
/// </summary>
public sealed partial class RunExecutor(BuildGridEndpoints endpoints, IOptions<BuildsOptions> options, RegistryTokens tokens,
    IEnumerable<Action<RegistriesConfig>> registriesConfigurers, LocalSandbox sandbox, RunStore store) : IRunExecutor
{
    public sealed class StepFailed(string message) : Exception(message);

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
                    throw new StepFailed(output.Reason($"build script exited with code {result.ExitCode}"));
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
                throw new StepFailed($"'{key}' is not a valid variable name");
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
            throw new StepFailed($"repository {index} has no usable folder name");
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
            throw new StepFailed(output.Reason($"checkout of {url} failed (git clone exited with code {result.ExitCode})"));
        // One git process for both: the commit, then the branch's short name (one line each).
        var lines = new List<string>();
        await ProcessRunner.RunAsync("git", ["rev-parse", "HEAD", "--abbrev-ref", "HEAD"], Path.Combine(workspace, name), environment, lines.Add, cancellationToken);
        var commit = lines.FirstOrDefault(l => l.Length == 40) ?? "";
        log.Write($"[buildgrid] {name} at {commit}");
        return new RepoCheckout { Name = name, Branch = repo.Branch.Length > 0 ? repo.Branch : lines.Skip(1).FirstOrDefault() ?? "", Commit = commit };
    }

    async Task<string> BuildImageAsync(Run run, RunSpec spec, DockerBuild docker, string workspace, string meta, Dictionary<string, string> environment,
        LocalSandbox.Lease lease, RunLog log, CancellationToken cancellationToken)
    {
        var buildah = FindOnPath("buildah")
            ?? throw new StepFailed("buildah is not installed: image builds need buildah on PATH (apt-get install buildah)");
        var storage = LayerStorage(spec, docker);
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

        // buildah reads this run's registries.conf, not the host's, and a private auth file per step (never --creds).
        var own = OwnRegistryHosts();
        var buildEnvironment = new Dictionary<string, string>(environment, StringComparer.Ordinal)
        {
            ["CONTAINERS_REGISTRIES_CONF"] = await RegistriesConfigFor(own).WriteAsync(meta, cancellationToken),
        };
        var authDirectory = Path.Combine(sandbox.RunRoot, "auth", $"{run.Id}-{run.Attempt}");
        try
        {
            var local = $"localhost/buildgrid-{run.Id}:{run.Attempt}";
            var target = $"{RegistryHost}/{docker.Image}";
            var principal = Domain.RunPrincipals.ToPrincipal(spec.QueuedBy);
            var dockerfileText = await File.ReadAllTextAsync(dockerfile, cancellationToken);
            var bases = BaseImages.Of(dockerfileText, docker.BuildArgs);
            // The repositories of BuildGrid's registry the build reads: bases named by its address, and bases of a mirrored
            // registry (Builds:Mirror), which buildah pulls through the cache namespace.
            var ownBases = bases.Select(b => (Image: b, Host: BaseImages.HostOf(b)))
                .Where(b => b.Host is not null && own.Contains(b.Host, StringComparer.OrdinalIgnoreCase))
                .Select(b => BaseImages.RepositoryAfterHost(b.Image, b.Host!))
                .Concat(bases.Select(MirroredRepository).OfType<string>()).Distinct(StringComparer.Ordinal).ToList();
            var output = new StepOutput(log);
            using (var pullAuth = PullAuthFile(authDirectory, principal, ownBases, own, spec, log))
            {
                // In the sandbox, bud has no network at all (nor do the Dockerfile's RUN steps): every image it reads is
                // pulled first, here, by BuildGrid's own buildah with the run's scoped token and the run's registries.conf
                // (buildEnvironment), so that a mirrored registry's image (FROM alpine:3.20) comes through BuildGrid's cache
                // and is stored under the name the Dockerfile uses (docker.io/library/alpine:3.20), which bud --pull=never
                // then resolves locally. From BuildGrid's registry, the cache included, always: a run whose principal may
                // not read a base fails instead of using another run's copy in the project's layer storage.
                if (lease.IsolatesBuildah)
                {
                    foreach (var image in bases)
                    {
                        var isOwn = BaseImages.HostOf(image) is { } host && own.Contains(host, StringComparer.OrdinalIgnoreCase);
                        var cache = MirroredRepository(image);
                        output.Enter(BaseImages.StepOf(dockerfileText, docker.BuildArgs, image) ?? $"FROM {image}");
                        log.Write($"[buildgrid] buildah pull {image}" + (cache is not null ? $" through the cache {cache}" : "")
                            + (isOwn || cache is not null ? $" as {principal.Name}" : ""));
                        var pulled = await ProcessRunner.RunAsync(buildah,
                            [.. global, "pull", "--quiet", "--authfile", pullAuth.Path, "--policy", isOwn || cache is not null ? "always" : "missing", "--", image],
                            workspace, buildEnvironment, output.Write, cancellationToken);
                        if (pulled.Killed) cancellationToken.ThrowIfCancellationRequested();
                        if (pulled.ExitCode != 0)
                            throw new StepFailed(await BudFailureAsync(output, principal, own, cancellationToken));
                    }
                }
                List<string> bud = [.. global, "bud", "--isolation", "chroot", "--layers", "--authfile", pullAuth.Path, "-f", dockerfile, "-t", local, "-t", LastBuild];
                // The image storage is shared by the runs of a project: a base from BuildGrid's registry is fetched again for every run
                // (its unchanged layers are not), so that a run whose principal may not read it fails instead of using
                // the copy another run pulled. buildah's default ("newer") would fall back to that copy.
                if (lease.IsolatesBuildah)
                    bud.Add("--pull=never");
                else if (ownBases.Count > 0)
                    bud.Add("--pull=always");
                foreach (var arg in docker.BuildArgs) { bud.Add("--build-arg"); bud.Add(arg); }
                if (docker.Platforms.Count > 0) { bud.Add("--platform"); bud.Add(string.Join(',', docker.Platforms)); }
                bud.Add(context);
                log.Write($"[buildgrid] buildah bud -t {target}" + (ownBases.Count > 0 ? $" (pulling {string.Join(", ", ownBases)} as {principal.Name})" : ""));
                var (budFile, budArguments) = lease.WrapBuildah(buildah, bud, storage, authDirectory);
                var built = await ProcessRunner.RunAsync(budFile, budArguments, workspace, buildEnvironment, output.Write, cancellationToken);
                if (built.Killed) cancellationToken.ThrowIfCancellationRequested();
                if (built.ExitCode != 0)
                    throw new StepFailed(await BudFailureAsync(output, principal, own, cancellationToken));
            }
            try
            {
                var digestFile = Path.Combine(meta, "digest");
                log.Write($"[buildgrid] buildah push {target}");
                var pushOutput = new StepOutput(log);
                using var pushAuth = PushAuthFile(authDirectory, docker.Image, log);
                var pushed = await ProcessRunner.RunAsync(buildah,
                    [.. global, "push", "--authfile", pushAuth.Path, "--digestfile", digestFile, local, $"docker://{target}"],
                    workspace, buildEnvironment, pushOutput.Write, cancellationToken);
                if (pushed.Killed) cancellationToken.ThrowIfCancellationRequested();
                if (pushed.ExitCode != 0)
                    throw new StepFailed(pushOutput.Reason($"push of {target} failed (buildah push exited with code {pushed.ExitCode})"));
                var digest = (await File.ReadAllTextAsync(digestFile, cancellationToken)).Trim();
                log.Write($"[buildgrid] pushed {target}@{digest}");
                return digest;
            }
            finally
            {
                // The run's name goes, the image stays, named as the last build of its storage (bud gave it both names, so
                // no separate tag step): its parents are the images of its steps, buildah --layers' cache of the next build
                // ("Using cache"). rmi -f of its only name would remove them too (buildah removes the untagged parents of an
                // image it removes); rmi of one of two names only untags.
                await ProcessRunner.RunAsync(buildah, [.. global, "rmi", local], workspace, buildEnvironment, _ => { }, CancellationToken.None);
            }
        }
        finally
        {
            try { Directory.Delete(authDirectory, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>
    /// Why <c>buildah bud</c> failed: the base-image pull, a Dockerfile step, or the Dockerfile itself, with its last output.
    /// BuildGrid's registry answers "name unknown" alike for what is missing and for what the caller may not read; the
    /// worker asks it itself which one it is, so that the reason says why.
    /// </summary>
    async Task<string> BudFailureAsync(StepOutput output, Principal principal, IReadOnlyList<string> own, CancellationToken cancellationToken)
    {
        if (output.InFrom && output.FromImage is { } image)
        {
            var what = $"base-image pull of {image} failed ({output.DockerfileStep})";
            if (MirroredRepository(image) is { } cached)
                what += $": it is pulled through BuildGrid's cache {cached} (Builds:Mirror), which could not serve it; "
                    + "see whether the cache's upstream is reachable and holds the tag";
            if (BaseImages.HostOf(image) is { } host && own.Contains(host, StringComparer.OrdinalIgnoreCase))
            {
                var repository = BaseImages.RepositoryAfterHost(image, host);
                what += await ExistsAsync(image[(host.Length + 1)..], repository, cancellationToken) switch
                {
                    true => $": {principal.Name}, who queued the run, may not read {repository} (it needs the guest role in its namespace, or a public repository)",
                    false => $": {image[(host.Length + 1)..]} does not exist in BuildGrid's registry",
                    null => "",
                };
            }
            return output.Reason(what);
        }
        return output.DockerfileStep is { } step
            ? output.Reason($"Dockerfile {step[..Math.Min(step.Length, 200)]} failed")
            : output.Reason("the Dockerfile could not be built (buildah bud failed before its first step)");
    }

    static readonly HttpClient Registry = new() { Timeout = TimeSpan.FromSeconds(5) };

    /// <summary>Whether BuildGrid's registry holds <paramref name="reference"/> (asked as this service); null when it cannot tell.</summary>
    async Task<bool?> ExistsAsync(string reference, string repository, CancellationToken cancellationToken)
    {
        var name = reference.Split('@', 2) is [var repo, var digest] ? (repo, digest)
            : reference.LastIndexOf(':') is var colon && colon > reference.LastIndexOf('/') ? (reference[..colon], reference[(colon + 1)..]) : (reference, "latest");
        var (token, _, _) = tokens.Issue(Principal.Service("builds"), [new RegistryAccess("repository", repository, ["pull"])], TimeSpan.FromMinutes(1));
        using var request = new HttpRequestMessage(HttpMethod.Head, $"http://{RegistryHost}/v2/{name.Item1}/manifests/{name.Item2}");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
        request.Headers.Accept.ParseAdd("application/vnd.oci.image.index.v1+json");
        request.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
        request.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.list.v2+json");
        try
        {
            using var response = await Registry.SendAsync(request, cancellationToken);
            return response.IsSuccessStatusCode ? true : response.StatusCode == System.Net.HttpStatusCode.NotFound ? false : null;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or UriFormatException)
        {
            return null;
        }
    }

    /// <summary>How long the tokens of a run's pulls and pushes live: the step starts at once, but a large image takes a while.</summary>
    static readonly TimeSpan StepTokenLifetime = TimeSpan.FromMinutes(30);

    /// <summary>
    /// The auth file of <c>buildah bud</c>: a registry token of the principal who queued the run, granting pull on exactly
    /// the repositories of BuildGrid's registry that the Dockerfile names, for every address of it. The registry grants no
    /// more than that principal may read. None at all when the Dockerfile reads nothing from BuildGrid's registry.
    /// </summary>
    RegistryAuthFile PullAuthFile(string directory, Principal principal, IReadOnlyList<string> repositories, IReadOnlyList<string> own, RunSpec spec,
        RunLog log)
    {
        if (repositories.Count == 0)
            return RegistryAuthFile.Empty(directory, "pull.json");
        var lifetime = Domain.RunRules.Timeout(spec) < StepTokenLifetime ? Domain.RunRules.Timeout(spec) : StepTokenLifetime;
        var (token, _, _) = tokens.Issue(principal, [.. repositories.Select(r => new RegistryAccess("repository", r, ["pull"]))], lifetime);
        log.AddSecret(token);
        return RegistryAuthFile.Create(directory, "pull.json", own, "buildgrid-run", token);
    }

    /// <summary>
    /// The auth file of <c>buildah push</c>: a registry token as the password (the registry accepts a token in place of a
    /// password), issued to <c>service:builds</c> and granting pull and push on the image's repository only. Registries
    /// that do not ask for credentials never see it.
    /// </summary>
    RegistryAuthFile PushAuthFile(string directory, string image, RunLog log)
    {
        var (token, _, _) = tokens.Issue(Principal.Service("builds"), [new RegistryAccess("repository", RepositoryOf(image), ["pull", "push"])], StepTokenLifetime);
        log.AddSecret(token);
        return RegistryAuthFile.Create(directory, "push.json", [RegistryHost], "buildgrid-builds", token);
    }

    /// <summary>
    /// Every address BuildGrid's registry answers on, as a build may name it in <c>FROM</c>: the push registry, the REST
    /// listener, and for a loopback or wildcard listener 127.0.0.1, localhost and [::1] (a wildcard one also this
    /// machine's own addresses and name), all with the listener's port.
    /// </summary>
    public IReadOnlyList<string> OwnRegistryHosts()
    {
        var hosts = new List<string> { RegistryHost };
        Uri rest;
        try { rest = endpoints.RestUri; }
        catch (InvalidOperationException) { return hosts; }   // a worker process without a REST listener: Builds:Registry only
        hosts.Add(rest.Authority);
        var port = rest.Port;
        var address = System.Net.IPAddress.TryParse(rest.Host.Trim('[', ']'), out var parsed) ? parsed : null;
        var wildcard = endpoints.RestListensOnAnyAddress;
        if (wildcard || address is not null && System.Net.IPAddress.IsLoopback(address))
            hosts.AddRange([$"127.0.0.1:{port}", $"localhost:{port}", $"[::1]:{port}"]);
        if (wildcard)
        {
            hosts.Add($"{Environment.MachineName}:{port}".ToLowerInvariant());
            foreach (var ip in System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
                .SelectMany(n => n.GetIPProperties().UnicastAddresses).Select(u => u.Address).Where(a => !a.IsIPv6LinkLocal))
                hosts.Add(ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip}]:{port}" : $"{ip}:{port}");
        }
        return hosts.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
    }

    /// <summary>
    /// The registries.conf of a run: BuildGrid's registry and the configured insecure registries over plain HTTP, each
    /// Builds:Mirror registry mirrored by its cache namespace in BuildGrid's registry, plus the mirrors others add.
    /// </summary>
    RegistriesConfig RegistriesConfigFor(IReadOnlyList<string> own)
    {
        var config = new RegistriesConfig();
        foreach (var host in own.Concat(options.Value.InsecureRegistries))
            config.AddInsecure(host);
        foreach (var (registry, ns) in options.Value.Mirror)
        {
            config.AddMirror(registry, $"{OwnRegistryAddress}/{ns}");
            if (registry.Equals(DockerHub, StringComparison.OrdinalIgnoreCase) && !config.UnqualifiedSearch.Contains(DockerHub))
                config.UnqualifiedSearch.Add(DockerHub);
        }
        foreach (var configure in registriesConfigurers)
            configure(config);
        return config;
    }

    const string DockerHub = "docker.io";

    /// <summary>The name each layer storage keeps its last built image under (see <see cref="LayerStorage"/>).</summary>
    const string LastBuild = "localhost/buildgrid-last-build:latest";

    /// <summary>
    /// The image storage (vfs) of a run's build: one per cache key — a Zadig definition's, else the image's repository, so
    /// one per image-market project — under the run root's <c>containers</c> (<see cref="LocalSandbox.RunRoot"/>). It keeps the project's base images and the
    /// images of its steps, so that a rebuild of an unchanged project reuses its layers (buildah <c>--layers</c>), and no
    /// project's build is ever served a layer another project's build made. Bases from BuildGrid's registry are pulled
    /// again each run regardless (<c>--pull=always</c>), so the cache never stands in for a read the principal may not do.
    /// </summary>
    string LayerStorage(RunSpec spec, DockerBuild docker)
    {
        var key = spec.CacheKey.Length > 0 ? spec.CacheKey : "image-" + RepositoryOf(docker.Image);
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)))[..12];
        var name = Unsafe().Replace(key, "_");
        return Path.Combine(sandbox.RunRoot, "containers", $"{name[..Math.Min(name.Length, 80)]}-{hash}");
    }

    /// <summary>The address mirror entries name BuildGrid's registry by: its REST listener, else Builds:Registry.</summary>
    string OwnRegistryAddress
    {
        get
        {
            try { return endpoints.RestUri.Authority; }
            catch (InvalidOperationException) { return RegistryHost; }
        }
    }

    /// <summary>
    /// The repository of BuildGrid's registry that buildah pulls <paramref name="image"/> from when its registry has a
    /// Builds:Mirror cache namespace (<c>alpine:3.20</c> → <c>hub/library/alpine</c>), or null. A reference without a
    /// registry is docker.io's, and docker.io's one-component names are under <c>library/</c>, as docker resolves them.
    /// </summary>
    internal string? MirroredRepository(string image)
    {
        var host = BaseImages.HostOf(image);
        var registry = host is null or "index.docker.io" or "registry-1.docker.io" ? DockerHub : host;
        if (!options.Value.Mirror.TryGetValue(registry, out var ns))
            return null;
        var path = RepositoryOf(host is null ? image : image[(host.Length + 1)..]);
        return registry == DockerHub && !path.Contains('/') ? $"{ns}/library/{path}" : $"{ns}/{path}";
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
