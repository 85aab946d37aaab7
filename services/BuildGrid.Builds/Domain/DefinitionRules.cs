using System.Text.RegularExpressions;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Errors;
using Google.Protobuf.Collections;

namespace BuildGrid.Builds.Domain;

/// <summary>
/// What a build definition, template or code host may contain (seed 002's required fields and enums). Every failure is
/// INVALID_ARGUMENT whose message starts with the field's path (<c>parameters[1].type</c>) and whose ErrorInfo
/// metadata "field" holds it. Validation also normalizes: trims names, fills defaults (source "zadig",
/// access_mode ReadWriteMany).
/// </summary>
public static partial class DefinitionRules
{
    /// <summary>What credential values are answered as; sending it back in an update keeps the stored value.</summary>
    public const string Mask = "******";

    public static readonly string[] Infrastructures = ["kubernetes", "vm"];
    public static readonly string[] ScriptTypes = ["shell", "batch_file", "powershell"];
    public static readonly string[] ParameterTypes = ["string", "choice", "multi-select"];
    public static readonly string[] DockerfileSources = ["local", "template"];
    public static readonly string[] AccessModes = ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"];
    public static readonly string[] ProvisionTypes = ["dynamic", "static"];
    public static readonly string[] CodeHostSources = ["github", "gitlab", "gerrit", "codehub", "gitee", "gitee-enterprise", "other"];

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex VariableName();

    static global::Grpc.Core.RpcException Bad(string field, string message) => Errors.Invalid(Reasons.InvalidArgument, field, $"{field} {message}");

    static string OneOf(string[] values) => "must be one of " + string.Join(", ", values);

    public static void ValidateName(string value, string field)
    {
        if (value.Length == 0)
            throw Bad(field, "is required");
        if (!NamePattern().IsMatch(value))
            throw Bad(field, "must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit");
    }

    static void Required(string value, string field)
    {
        if (string.IsNullOrWhiteSpace(value))
            throw Bad(field, "is required");
    }

    static void Enum(string value, string field, string[] allowed, bool required = true)
    {
        if (value.Length == 0 && !required)
            return;
        if (value.Length == 0)
            throw Bad(field, "is required; it " + OneOf(allowed));
        if (!allowed.Contains(value, StringComparer.Ordinal))
            throw Bad(field, $"'{value}' is not allowed; it " + OneOf(allowed));
    }

    /// <summary>A definition made with its own script and settings (create and update).</summary>
    public static void ValidateDefinition(Definition definition)
    {
        ValidateName(definition.Name, "name");
        ValidateName(definition.ProjectKey, "project_key");
        if (definition.Source.Length == 0)
            definition.Source = "zadig";
        else if (definition.Source != "zadig")
            throw Bad("source", "'" + definition.Source + "' is not a source BuildGrid runs; it must be zadig");
        ValidateSpec(definition.Infrastructure, definition.BuildOs, definition.ScriptType, definition.BuildScript, definition.Installs,
            definition.Parameters, definition.DockerBuildStep, definition.AdvancedSettings);
        for (var i = 0; i < definition.RepoInfo.Count; i++)
            ValidateRepo(definition.RepoInfo[i], $"repo_info[{i}]");
        if (definition.Services.Count == 0)
            throw Bad("services", "is required: at least one {service_name, service_module}");
        for (var i = 0; i < definition.Services.Count; i++)
        {
            Required(definition.Services[i].ServiceName, $"services[{i}].service_name");
            Required(definition.Services[i].ServiceModule, $"services[{i}].service_module");
        }
        if (definition.Services.GroupBy(s => (s.ServiceName, s.ServiceModule)).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw Bad("services", $"lists {twice.Key.ServiceName}/{twice.Key.ServiceModule} twice");
        if (definition.TargetServices.Count > 0)
            throw Bad("target_services", "belongs to builds made from a template (template_name; POST /openapi/build?source=template)");
    }

    /// <summary>A definition made from a template: name, project_key, template_name and target_services.</summary>
    public static void ValidateTemplateDefinition(Definition definition)
    {
        ValidateName(definition.Name, "name");
        ValidateName(definition.ProjectKey, "project_key");
        ValidateName(definition.TemplateName, "template_name");
        definition.Source = "zadig";
        if (definition.TargetServices.Count == 0)
            throw Bad("target_services", "is required: at least one {service_name, service_module, repo_info, inputs}");
        for (var i = 0; i < definition.TargetServices.Count; i++)
        {
            var target = definition.TargetServices[i];
            Required(target.ServiceName, $"target_services[{i}].service_name");
            Required(target.ServiceModule, $"target_services[{i}].service_module");
            for (var r = 0; r < target.RepoInfo.Count; r++)
                ValidateRepo(target.RepoInfo[r], $"target_services[{i}].repo_info[{r}]");
            for (var k = 0; k < target.Inputs.Count; k++)
            {
                if (!VariableName().IsMatch(target.Inputs[k].Key))
                    throw Bad($"target_services[{i}].inputs[{k}].key", $"'{target.Inputs[k].Key}' is not a variable name");
            }
        }
        if (definition.TargetServices.GroupBy(s => (s.ServiceName, s.ServiceModule)).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw Bad("target_services", $"lists {twice.Key.ServiceName}/{twice.Key.ServiceModule} twice");
        // A template-made build keeps no script or settings of its own: they are the template's.
        definition.Services.Clear();
        definition.RepoInfo.Clear();
        definition.Parameters.Clear();
        definition.Installs.Clear();
        definition.Infrastructure = definition.BuildOs = definition.ScriptType = definition.BuildScript = "";
        definition.DockerBuildStep = null;
        definition.AdvancedSettings = null;
    }

    public static void ValidateTemplate(Template template)
    {
        ValidateName(template.Name, "name");
        ValidateSpec(template.Infrastructure, template.BuildOs, template.ScriptType, template.BuildScript, template.Installs,
            template.Parameters, template.DockerBuildStep, template.AdvancedSettings);
    }

    public static void ValidateCodeHost(CodeHost host)
    {
        ValidateName(host.Name, "name");
        Required(host.Url, "url");
        if (host.Url.Length > 2048 || host.Url.Any(char.IsControl) || host.Url.StartsWith('-'))
            throw Bad("url", "must be a git base URL (https://, ssh://, file://) or a local directory");
        if (host.Source.Length == 0)
            host.Source = "other";
        Enum(host.Source, "source", CodeHostSources);
    }

    static void ValidateSpec(string infrastructure, string buildOs, string scriptType, string buildScript,
        RepeatedField<Install> installs, RepeatedField<Parameter> parameters, DockerBuildStep? docker, AdvancedSettings? advanced)
    {
        Enum(infrastructure, "infrastructure", Infrastructures);
        Required(buildOs, "build_os");
        Enum(scriptType, "script_type", ScriptTypes);
        Required(buildScript, "build_script");
        if (buildScript.Length > RunRules.MaxScriptLength || buildScript.Contains('\0'))
            throw Bad("build_script", $"must be at most {RunRules.MaxScriptLength} characters without NUL");
        for (var i = 0; i < installs.Count; i++)
            Required(installs[i].Name, $"installs[{i}].name");
        var keys = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < parameters.Count; i++)
            ValidateParameter(parameters[i], $"parameters[{i}]", keys);
        if (docker is not null && !docker.Equals(new DockerBuildStep()))
        {
            Enum(docker.DockerfileSource, "docker_build_step.dockerfile_source", DockerfileSources);
            Required(docker.BuildContextDir, "docker_build_step.build_context_dir");
            if (docker.DockerfileSource == "local")
                Required(docker.DockerfileDirectory, "docker_build_step.dockerfile_directory");
            else
                Required(docker.TemplateName, "docker_build_step.template_name");
        }
        if (advanced is null)
            return;
        if (advanced.Timeout is < 0 or > RunRules.MaxTimeoutMinutes)
            throw Bad("advanced_settings.timeout", $"must be between 1 and {RunRules.MaxTimeoutMinutes} minutes (0: the default, 60)");
        if (advanced.ResourceSpec is { } resources)
        {
            foreach (var (value, name) in new[] { (resources.CpuReq, "cpu_req"), (resources.CpuLimit, "cpu_limit"), (resources.MemoryReq, "memory_req"), (resources.MemoryLimit, "memory_limit") })
            {
                if (value < 0)
                    throw Bad($"advanced_settings.resource_spec.{name}", "must not be negative");
            }
            if (resources.CpuLimit > 0 && resources.CpuReq > resources.CpuLimit)
                throw Bad("advanced_settings.resource_spec.cpu_req", "must not exceed cpu_limit");
            if (resources.MemoryLimit > 0 && resources.MemoryReq > resources.MemoryLimit)
                throw Bad("advanced_settings.resource_spec.memory_req", "must not exceed memory_limit");
        }
        if (advanced.Network is not ("" or "none"))
            throw Bad("advanced_settings.network", $"must be '' (outbound only) or 'none', not '{advanced.Network}'");
        if (advanced.CacheSetting is { Enabled: true } cache && cache.CacheDir.Length == 0)
            throw Bad("advanced_settings.cache_setting.cache_dir", "is required when the cache is enabled");
        if (advanced.Storages is { } storages)
        {
            for (var i = 0; i < storages.StoragesProperties.Count; i++)
            {
                var storage = storages.StoragesProperties[i];
                var path = $"advanced_settings.storages.storages_properties[{i}]";
                if (storage.AccessMode.Length == 0)
                    storage.AccessMode = "ReadWriteMany";
                Enum(storage.AccessMode, path + ".access_mode", AccessModes);
                Required(storage.MountPath, path + ".mount_path");
                Enum(storage.ProvisionType, path + ".provision_type", ProvisionTypes);
                Required(storage.Subpath, path + ".subpath");
                if (storage.StorageSizeInGib < 0)
                    throw Bad(path + ".storage_size_in_gib", "must not be negative");
                if (storage.ProvisionType == "static" && storage.Pvc.Length == 0)
                    throw Bad(path + ".pvc", "is required when provision_type is static");
            }
        }
        for (var i = 0; i < advanced.CustomAnnotations.Count; i++)
            Required(advanced.CustomAnnotations[i].Key, $"advanced_settings.custom_annotations[{i}].key");
        for (var i = 0; i < advanced.CustomLabels.Count; i++)
            Required(advanced.CustomLabels[i].Key, $"advanced_settings.custom_labels[{i}].key");
        for (var i = 0; i < advanced.Outputs.Count; i++)
        {
            if (!VariableName().IsMatch(advanced.Outputs[i]))
                throw Bad($"advanced_settings.outputs[{i}]", $"'{advanced.Outputs[i]}' is not a variable name");
        }
    }

    static void ValidateParameter(Parameter parameter, string path, HashSet<string> keys)
    {
        if (parameter.Key.Length == 0)
            throw Bad(path + ".key", "is required");
        if (!VariableName().IsMatch(parameter.Key))
            throw Bad(path + ".key", $"'{parameter.Key}' is not a variable name (letters, digits, '_', not starting with a digit)");
        if (!keys.Add(parameter.Key))
            throw Bad(path + ".key", $"'{parameter.Key}' is defined twice");
        Enum(parameter.Type, path + ".type", ParameterTypes);
        if (parameter.DefaultValue.Contains('\0'))
            throw Bad(path + ".default_value", "contains a NUL character");
        if (parameter.Type == "choice" && parameter.ChoiceOption.Count > 0 && parameter.DefaultValue.Length > 0
            && !parameter.ChoiceOption.Contains(parameter.DefaultValue))
            throw Bad(path + ".default_value", $"'{parameter.DefaultValue}' is not one of choice_option");
        if (parameter.Type == "multi-select" && parameter.ChoiceValue.FirstOrDefault(v => !parameter.ChoiceOption.Contains(v)) is { } stray)
            throw Bad(path + ".choice_value", $"'{stray}' is not one of choice_option");
    }

    static void ValidateRepo(RepoInfo repo, string path)
    {
        ValidateName(repo.CodehostName, path + ".codehost_name");
        Required(repo.RepoNamespace, path + ".repo_namespace");
        Required(repo.RepoName, path + ".repo_name");
        Required(repo.Branch, path + ".branch");
        RunRules.ValidateBranch(repo.Branch, path + ".branch");
        foreach (var (value, name) in new[] { (repo.RepoNamespace, "repo_namespace"), (repo.RepoName, "repo_name") })
        {
            if (value.Split('/').Any(part => part is "" or "." or "..") || value.StartsWith('-') || value.Any(char.IsControl))
                throw Bad($"{path}.{name}", $"'{value}' is not a repository path");
        }
    }
}
