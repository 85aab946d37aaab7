using System.Text.RegularExpressions;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Errors;

namespace BuildGrid.Builds.Domain;

/// <summary>What a run spec may contain. Every failure is INVALID_ARGUMENT naming the field.</summary>
public static partial class RunRules
{
    public const int MaxScriptLength = 1024 * 1024;
    public const int MaxTimeoutMinutes = 1440;

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex VariableName();

    // OCI: path components [a-z0-9]+ with separators, then an optional :tag.
    [GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$")]
    private static partial Regex ImageReference();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]{1,200}(?<!/)(?<!\.lock)$")]
    private static partial Regex BranchPattern();

    static global::Grpc.Core.RpcException Bad(string field, string message) => Errors.Invalid(Reasons.InvalidArgument, field, message);

    /// <summary>Who started a run: as given (at most 64 characters, no control characters), else the caller.</summary>
    public static string Operator(string? requested, string? caller)
    {
        var value = string.IsNullOrWhiteSpace(requested) ? caller ?? "admin" : requested.Trim();
        if (value.Length > 64 || value.Any(char.IsControl))
            throw Bad("operator", "operator must be at most 64 characters without control characters");
        return value;
    }

    /// <summary>How long a run of this spec may take.</summary>
    public static TimeSpan Timeout(RunSpec spec) =>
        spec.TimeoutSeconds > 0 ? TimeSpan.FromSeconds(spec.TimeoutSeconds) : TimeSpan.FromMinutes(spec.TimeoutMinutes);

    public static string Describe(TimeSpan timeout) =>
        timeout.TotalSeconds % 60 == 0 ? $"{timeout.TotalMinutes:0} minute(s)" : $"{timeout.TotalSeconds:0} second(s)";

    public static void ValidateBranch(string branch, string field)
    {
        if (!BranchPattern().IsMatch(branch))
            throw Bad(field, $"{field} is not a valid branch name: '{branch}'");
    }

    public static void ValidateTag(string tag, string field = "tag")
    {
        if (!TagPattern().IsMatch(tag))
            throw Bad(field, $"{field} must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'");
    }

    /// <summary>Validates and normalizes (default timeout) a spec in place.</summary>
    public static void Validate(RunSpec spec, int defaultTimeoutMinutes)
    {
        if (spec.TimeoutMinutes == 0)
            spec.TimeoutMinutes = defaultTimeoutMinutes;
        if (spec.TimeoutMinutes is < 1 or > MaxTimeoutMinutes)
            throw Bad("timeout_minutes", $"timeout_minutes must be between 1 and {MaxTimeoutMinutes}");
        if (spec.TimeoutSeconds is < 0 or > MaxTimeoutMinutes * 60)
            throw Bad("timeout_seconds", $"timeout_seconds must be between 1 and {MaxTimeoutMinutes * 60}");
        if (spec.Script.Length > MaxScriptLength)
            throw Bad("script", $"script is longer than {MaxScriptLength} characters");
        if (spec.Script.Contains('\0'))
            throw Bad("script", "script contains a NUL character");
        if (spec.Network is not ("" or "none"))
            throw Bad("network", $"network is '' (outbound only) or 'none', not '{spec.Network}'");
        if (spec.Resources is { } resources && (resources.CpuLimitMillicores < 0 || resources.MemoryLimitMib < 0 || resources.PidsLimit < 0))
            throw Bad("resources", "resources limits must not be negative (0: the worker's default)");
        for (var i = 0; i < spec.Repos.Count; i++)
        {
            var repo = spec.Repos[i];
            if (repo.Url.Length == 0 || repo.Url.Length > 2048 || repo.Url.Any(char.IsControl) || repo.Url.StartsWith('-'))
                throw Bad($"repos[{i}].url", $"repos[{i}].url must be a git URL or path");
            if (repo.Branch.Length > 0 && !BranchPattern().IsMatch(repo.Branch))
                throw Bad($"repos[{i}].branch", $"repos[{i}].branch is not a valid branch name: '{repo.Branch}'");
            if (repo.Name.Length > 0 && (repo.Name is "." or ".." || repo.Name.Contains('/') || repo.Name.Contains('\\') || repo.Name.Any(char.IsControl) || repo.Name.StartsWith('-')))
                throw Bad($"repos[{i}].name", $"repos[{i}].name must be a single folder name");
        }
        foreach (var (key, value) in spec.Env.Concat(spec.Secrets))
        {
            if (!VariableName().IsMatch(key))
                throw Bad("env", $"'{key}' is not a valid variable name");
            if (value.Contains('\0'))
                throw Bad("env", $"the value of '{key}' contains a NUL character");
        }
        foreach (var output in spec.Outputs)
        {
            if (!VariableName().IsMatch(output))
                throw Bad("outputs", $"'{output}' is not a valid output name");
        }
        if (spec.DockerBuild is { } docker && (docker.Image.Length > 0 || docker.DockerfileContent.Length > 0 || docker.Dockerfile.Length > 0))
        {
            if (!ImageReference().IsMatch(docker.Image))
                throw Bad("docker_build.image", $"docker_build.image must be a lower-case repository[:tag], not '{docker.Image}'");
            foreach (var path in new[] { docker.Context, docker.Dockerfile })
            {
                if (path.StartsWith('/') || path.Split('/', '\\').Contains(".."))
                    throw Bad("docker_build", "docker_build paths must stay inside the workspace (no leading '/' and no '..')");
            }
            foreach (var arg in docker.BuildArgs)
            {
                if (!arg.Contains('=') || !VariableName().IsMatch(arg[..arg.IndexOf('=')]))
                    throw Bad("docker_build.build_args", $"build arguments are NAME=value, not '{arg}'");
            }
        }
    }
}
