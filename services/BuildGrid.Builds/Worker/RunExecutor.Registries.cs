using System.Text.RegularExpressions;
using BuildGrid.Builds.Storage;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Hosting;
using BuildGrid.Core.Identity;
using Microsoft.Extensions.Options;

namespace BuildGrid.Builds.Worker;

/// <summary>
/// What a run's buildah knows of registries: the auth files of its pulls and pushes, <c>registries.conf</c> (BuildGrid's
/// own hosts, mirrors), the layer storage per cache key, and image reference parsing.
/// </summary>
public sealed partial class RunExecutor
{
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
    RegistryAuthFile PullAuthFile(string directory, Principal principal, List<string> repositories, IReadOnlyList<string> own, RunSpec spec,
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
}
