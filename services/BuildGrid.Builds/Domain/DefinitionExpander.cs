using System.Text.RegularExpressions;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Errors;
using Grpc.Core;

namespace BuildGrid.Builds.Domain;

/// <summary>
/// Turns a build definition into what the engine runs. <see cref="Effective"/> resolves a template-made definition
/// against its template (at read and run time, so template updates apply); <see cref="Expand"/> makes the RunSpec for
/// one service/module with inputs: repositories resolved through code hosts, the script (shell → bash), parameters
/// as env (credentials as secrets, masked in logs), the docker build step, timeout, outputs and cache.
/// </summary>
public static partial class DefinitionExpander
{
    [GeneratedRegex(@"\$(?:\{(?<name>[A-Za-z_][A-Za-z0-9_]*)\}|(?<name>[A-Za-z_][A-Za-z0-9_]*))")]
    private static partial Regex Variable();

    static RpcException Bad(string field, string message) => Errors.Invalid(Reasons.InvalidArgument, field, $"{field} {message}");

    static RpcException Unsupported(string field, string message) =>
        Errors.Create(Google.Rpc.Code.FailedPrecondition, Reasons.UnsupportedBuildStep, $"{field} {message}", ("field", field));

    /// <summary>
    /// The definition as it runs for <paramref name="target"/>: its own spec, or (template-made) the template's spec with
    /// the target service's repositories and inputs as parameter values. <c>services</c> then holds the one target.
    /// </summary>
    public static Definition Effective(Definition definition, Template? template, ServiceWithModule target)
    {
        var effective = definition.Clone();
        if (definition.TemplateName.Length == 0)
            return effective;
        if (template is null)
            throw Errors.NotFound(Reasons.BuildTemplateNotFound, "build template", definition.TemplateName);
        var service = definition.TargetServices.First(t => t.ServiceName == target.ServiceName && t.ServiceModule == target.ServiceModule);
        effective.Infrastructure = template.Infrastructure;
        effective.BuildOs = template.BuildOs;
        effective.Installs.Add(template.Installs);
        effective.ScriptType = template.ScriptType;
        effective.BuildScript = template.BuildScript;
        effective.DockerBuildStep = template.DockerBuildStep?.Clone();
        effective.AdvancedSettings = template.AdvancedSettings?.Clone();
        effective.RepoInfo.Add(service.RepoInfo.Select(r => r.Clone()));
        effective.Services.Add(target.Clone());
        foreach (var parameter in template.Parameters)
        {
            var value = parameter.Clone();
            if (service.Inputs.LastOrDefault(i => i.Key == parameter.Key) is { } input)
            {
                value.DefaultValue = input.Value;
                if (parameter.Type == "multi-select")
                {
                    value.ChoiceValue.Clear();
                    value.ChoiceValue.Add(input.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
                }
            }
            effective.Parameters.Add(value);
        }
        return effective;
    }

    /// <summary>The service/module a run or a detail is for: the one named, or the only one there is.</summary>
    public static ServiceWithModule Target(Definition definition, string serviceName, string serviceModule)
    {
        var targets = definition.TemplateName.Length > 0
            ? definition.TargetServices.Select(t => new ServiceWithModule { ServiceName = t.ServiceName, ServiceModule = t.ServiceModule }).ToList()
            : definition.Services.ToList();
        if (serviceName.Length == 0 && serviceModule.Length == 0 && targets.Count > 0)
            return targets[0];
        return targets.FirstOrDefault(t => t.ServiceName == serviceName && (serviceModule.Length == 0 || t.ServiceModule == serviceModule))
            ?? throw Errors.Create(Google.Rpc.Code.NotFound, Reasons.BuildServiceNotFound,
                $"build '{definition.ProjectKey}/{definition.Name}' has no service '{serviceName}' module '{serviceModule}'",
                ("field", serviceName.Length == 0 ? "service_name" : "service_module"));
    }

    /// <summary>A parameter's value as its variable holds it.</summary>
    public static string ValueOf(Parameter parameter) =>
        parameter.Type == "multi-select" ? string.Join(',', parameter.ChoiceValue) : parameter.DefaultValue;

    public sealed record Expanded(RunSpec Spec, string Image);

    /// <param name="effective">From <see cref="Effective"/>, with clear credential values.</param>
    /// <param name="hosts">Code hosts by name.</param>
    /// <param name="findOnPath">Whether a program exists on this machine's PATH (for script interpreters).</param>
    public static Expanded Expand(Definition effective, ServiceWithModule target, IReadOnlyDictionary<string, string> inputs,
        IReadOnlyDictionary<string, CodeHost> hosts, string tag, int defaultTimeoutMinutes, Func<string, bool> findOnPath)
    {
        var spec = new RunSpec();
        var known = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PROJECT"] = effective.ProjectKey,
            ["BUILD_NAME"] = effective.Name,
            ["SERVICE"] = target.ServiceName,
            ["SERVICE_MODULE"] = target.ServiceModule,
        };

        var folders = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < effective.RepoInfo.Count; i++)
        {
            var repo = effective.RepoInfo[i];
            if (!hosts.TryGetValue(repo.CodehostName, out var host))
                throw Errors.Create(Google.Rpc.Code.FailedPrecondition, Reasons.CodeHostNotFound,
                    $"repo_info[{i}].codehost_name: code host '{repo.CodehostName}' is not configured (create it with POST /buildgrid/v1/code-hosts)",
                    ("field", $"repo_info[{i}].codehost_name"), ("id", repo.CodehostName));
            var folder = repo.RepoName.Split('/')[^1];
            if (folder.EndsWith(".git", StringComparison.Ordinal))
                folder = folder[..^4];
            if (!folders.Add(folder))
                throw Bad($"repo_info[{i}].repo_name", $"'{folder}' is checked out twice into the same folder");
            spec.Repos.Add(new RepoSpec
            {
                Url = RepoUrl(host, repo), Branch = repo.Branch, Name = folder,
                Username = host.Token.Length > 0 ? host.Username : "", Password = host.Token,
            });
            known[$"REPONAME_{i}"] = folder;
            known[$"BRANCH_{i}"] = repo.Branch;
        }

        var declared = effective.Parameters.ToDictionary(p => p.Key, StringComparer.Ordinal);
        foreach (var key in inputs.Keys.Where(k => !declared.ContainsKey(k)).Order(StringComparer.Ordinal).Take(1))
            throw Bad($"inputs.{key}", $"is not a parameter of build '{effective.ProjectKey}/{effective.Name}'");
        foreach (var parameter in effective.Parameters)
        {
            var value = inputs.TryGetValue(parameter.Key, out var given) ? Checked(parameter, given) : ValueOf(parameter);
            if (parameter.IsCredential)
                spec.Secrets[parameter.Key] = value;
            else
            {
                spec.Env[parameter.Key] = value;
                known[parameter.Key] = value;
            }
        }

        spec.Script = effective.ScriptType switch
        {
            "shell" => effective.BuildScript,
            "powershell" when findOnPath("pwsh") =>
                "pwsh -NoLogo -NoProfile -NonInteractive -Command - <<'BUILDGRID_POWERSHELL'\n" + effective.BuildScript + "\nBUILDGRID_POWERSHELL\n",
            "powershell" => throw Unsupported("script_type", "powershell needs pwsh on the build machine's PATH, and it is not there"),
            "batch_file" => throw Unsupported("script_type", "batch_file needs cmd.exe (Windows); BuildGrid workers run Linux"),
            _ => throw Bad("script_type", $"'{effective.ScriptType}' is not a script type"),
        };

        var advanced = effective.AdvancedSettings ?? new AdvancedSettings();
        spec.TimeoutMinutes = advanced.Timeout > 0 ? advanced.Timeout : defaultTimeoutMinutes;
        spec.Outputs.Add(advanced.Outputs);
        // Zadig's resource_spec: CPU in millicores, memory in MiB; the sandbox enforces the limits (0: the worker's default).
        if (advanced.ResourceSpec is { } resources && (resources.CpuLimit > 0 || resources.MemoryLimit > 0))
            spec.Resources = new RunResources { CpuLimitMillicores = resources.CpuLimit, MemoryLimitMib = resources.MemoryLimit };
        spec.Network = advanced.Network;
        if (advanced.CacheSetting is { Enabled: true })
            spec.CacheKey = $"definition-{effective.ProjectKey}-{effective.Name}";

        var image = "";
        if (effective.DockerBuildStep is { } docker && !docker.Equals(new DockerBuildStep()))
        {
            if (docker.DockerfileSource == "template")
                throw Unsupported("docker_build_step.dockerfile_source",
                    "template needs a Dockerfile template library, which BuildGrid does not have; use local");
            image = $"{effective.ProjectKey}/{target.ServiceModule}".ToLowerInvariant() + ":" + tag;
            var build = new DockerBuild
            {
                Image = image,
                Context = WorkspacePath(Expand(docker.BuildContextDir, known)),
                Dockerfile = WorkspacePath(Expand(docker.DockerfileDirectory, known)),
            };
            build.BuildArgs.Add(BuildArgs(Expand(docker.BuildArgs, known)));
            build.Platforms.Add(docker.Platforms.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            spec.DockerBuild = build;
        }
        return new Expanded(spec, image);
    }

    static string Checked(Parameter parameter, string value)
    {
        var field = $"inputs.{parameter.Key}";
        if (value.Contains('\0'))
            throw Bad(field, "contains a NUL character");
        if (parameter.Type == "choice" && parameter.ChoiceOption.Count > 0 && !parameter.ChoiceOption.Contains(value))
            throw Bad(field, $"'{value}' is not one of {string.Join(", ", parameter.ChoiceOption)}");
        if (parameter.Type == "multi-select" && parameter.ChoiceOption.Count > 0
            && value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault(v => !parameter.ChoiceOption.Contains(v)) is { } stray)
            throw Bad(field, $"'{stray}' is not one of {string.Join(", ", parameter.ChoiceOption)}");
        return value;
    }

    /// <summary>$NAME and ${NAME} of the variables known before the run starts; others stay as written.</summary>
    static string Expand(string text, Dictionary<string, string> known) =>
        Variable().Replace(text, m => known.TryGetValue(m.Groups["name"].Value, out var value) ? value : m.Value);

    /// <summary>Docker step paths are relative to the workspace ("/app/Dockerfile" means app/Dockerfile in it).</summary>
    static string WorkspacePath(string path)
    {
        var relative = path.Trim().TrimStart('/');
        if (relative.StartsWith("./", StringComparison.Ordinal))
            relative = relative[2..];
        return relative.Length == 0 ? "." : relative;
    }

    /// <summary>"--build-arg A=1 --build-arg=B=2 C=3" → A=1, B=2, C=3.</summary>
    static IEnumerable<string> BuildArgs(string text)
    {
        var tokens = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < tokens.Length; i++)
        {
            var token = tokens[i];
            if (token == "--build-arg")
            {
                if (++i >= tokens.Length)
                    throw Bad("docker_build_step.build_args", "ends with --build-arg and no NAME=value");
                token = tokens[i];
            }
            else if (token.StartsWith("--build-arg=", StringComparison.Ordinal))
                token = token["--build-arg=".Length..];
            if (token.IndexOf('=') <= 0)
                throw Bad("docker_build_step.build_args", $"'{token}' is not NAME=value");
            yield return token;
        }
    }

    /// <summary>
    /// &lt;code host url&gt;/&lt;namespace&gt;/&lt;name&gt;. For file:// and local code hosts the directory must exist; a bare
    /// repository's ".git" suffix is found on its own.
    /// </summary>
    public static string RepoUrl(CodeHost host, RepoInfo repo)
    {
        var baseUrl = host.Url.TrimEnd('/');
        var relative = $"{repo.RepoNamespace.Trim('/')}/{repo.RepoName.Trim('/')}";
        var isFileUrl = baseUrl.StartsWith("file://", StringComparison.OrdinalIgnoreCase);
        var isLocal = isFileUrl || baseUrl.StartsWith('/') || baseUrl.StartsWith('.') || !baseUrl.Contains(':');
        if (!isLocal)
            return $"{baseUrl}/{relative}";
        var root = isFileUrl ? new Uri(baseUrl + "/").LocalPath.TrimEnd('/') : baseUrl;
        var path = Path.Combine(root, relative);
        if (!Directory.Exists(path) && Directory.Exists(path + ".git"))
            path += ".git";
        return isFileUrl ? "file://" + path : path;
    }
}
