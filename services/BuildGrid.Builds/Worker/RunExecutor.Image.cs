using System.Text.RegularExpressions;
using BuildGrid.Builds.Storage;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Hosting;
using BuildGrid.Core.Identity;
using Microsoft.Extensions.Options;

namespace BuildGrid.Builds.Worker;

/// <summary>The image step: <c>buildah bud</c> in the run's sandbox, its failure reason, and the push to the registry.</summary>
public sealed partial class RunExecutor
{
    async Task<string> BuildImageAsync(Run run, RunSpec spec, DockerBuild docker, string workspace, string meta, Dictionary<string, string> environment,
        LocalSandbox.Lease lease, RunLog log, CancellationToken cancellationToken)
    {
        var buildah = FindOnPath("buildah")
            ?? throw new StepFailedException("buildah is not installed: image builds need buildah on PATH (apt-get install buildah)");
        var storage = LayerStorage(spec, docker);
        string[] global = ["--root", Path.Combine(storage, "storage"), "--runroot", Path.Combine(storage, "run"), "--storage-driver", "vfs"];
        var dockerfile = docker.DockerfileContent.Length > 0
            ? Path.Combine(meta, "Dockerfile")
            : Path.GetFullPath(Path.Combine(workspace, docker.Dockerfile.Length > 0 ? docker.Dockerfile : "Dockerfile"));
        if (docker.DockerfileContent.Length > 0)
            await File.WriteAllTextAsync(dockerfile, docker.DockerfileContent, cancellationToken);
        var context = Path.GetFullPath(Path.Combine(workspace, docker.Context.Length > 0 ? docker.Context : "."));
        if (!context.StartsWith(workspace, StringComparison.Ordinal) || !dockerfile.StartsWith(workspace, StringComparison.Ordinal))
            throw new StepFailedException("the build context and Dockerfile must be inside the workspace");
        if (!File.Exists(dockerfile))
            throw new StepFailedException($"Dockerfile not found: {Path.GetRelativePath(workspace, dockerfile)}");

        // buildah reads this run's registries.conf, not the host's, and a private auth file per step (never --creds).
        var own = OwnRegistryHosts();
        var buildEnvironment = new Dictionary<string, string>(environment, StringComparer.Ordinal)
        {
            ["CONTAINERS_REGISTRIES_CONF"] = await RegistriesConfigFor(own).WriteAsync(meta, cancellationToken),
        };
        var authDirectory = Path.Combine(sandbox.RunRoot, "auth", $"{run.Id}-{run.Attempt}");
        try
        {
            // bud names its image only as the last build of its storage (the layer cache of the next build) and writes its
            // id here; the push names that id, so a concurrent build of the same storage that moves the name between bud
            // and push changes nothing, and no per-run name needs removing afterwards (no rmi on the run's path).
            var imageIdFile = Path.Combine(meta, "image-id");
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
                            throw new StepFailedException(await BudFailureAsync(output, principal, own, cancellationToken));
                    }
                }
                List<string> bud = [.. global, "bud", "--isolation", "chroot", "--layers", "--authfile", pullAuth.Path, "--iidfile", imageIdFile, "-f", dockerfile, "-t", LastBuild];
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
                    throw new StepFailedException(await BudFailureAsync(output, principal, own, cancellationToken));
            }
            var imageId = (await File.ReadAllTextAsync(imageIdFile, cancellationToken)).Trim();
            if (imageId.StartsWith("sha256:", StringComparison.Ordinal))
                imageId = imageId["sha256:".Length..];
            var digestFile = Path.Combine(meta, "digest");
            log.Write($"[buildgrid] buildah push {target}");
            var pushOutput = new StepOutput(log);
            using var pushAuth = PushAuthFile(authDirectory, docker.Image, log);
            var pushed = await ProcessRunner.RunAsync(buildah,
                [.. global, "push", "--authfile", pushAuth.Path, "--digestfile", digestFile, imageId, $"docker://{target}"],
                workspace, buildEnvironment, pushOutput.Write, cancellationToken);
            if (pushed.Killed) cancellationToken.ThrowIfCancellationRequested();
            if (pushed.ExitCode != 0)
                throw new StepFailedException(pushOutput.Reason($"push of {target} failed (buildah push exited with code {pushed.ExitCode})"));
            var digest = (await File.ReadAllTextAsync(digestFile, cancellationToken)).Trim();
            log.Write($"[buildgrid] pushed {target}@{digest}");
            return digest;
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

    static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
}
