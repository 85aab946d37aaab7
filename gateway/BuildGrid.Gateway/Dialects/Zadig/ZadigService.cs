using System.Globalization;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Errors;
using BuildGrid.Gateway.Zadig.V1;
using Grpc.Core;
using Zv1 = BuildGrid.Gateway.Zadig.V1;

namespace BuildGrid.Gateway.Dialects.Zadig;

/// <summary>
/// The Zadig OpenAPI builds calls (seed 002): binds each REST call (<see cref="ZadigBody"/>), calls the Builds service's
/// BuildDefinitions API, and answers <c>{"message":"success"}</c> or the documented list and detail shapes.
/// <c>projectKey</c> in the query and <c>project_key</c> in the body name the same project: either may be given, and
/// both must agree. Errors: <see cref="ZadigErrors"/>.
/// </summary>
public sealed class ZadigService(BuildDefinitions.BuildDefinitionsClient definitions) : Zv1.Zadig.ZadigBase
{
    /// <summary>The outputs Zadig starts every build's list with.</summary>
    static readonly string[] LeadingOutputs = ["IMAGE", "PKG_FILE"];

    static readonly ZadigMessage Success = new() { Message = "success" };
    const int DefaultTimeoutMinutes = 60;

    public override async Task<ZadigMessage> CreateBuild(CreateBuildRequest request, ServerCallContext context)
    {
        var source = request.Source.Trim();
        if (source is not ("" or "template"))
            throw ZadigErrors.Bad("source", $"source '{source}' is not allowed; it must be template or absent");
        var definition = ZadigBody.Read<Definition>(request.Body);
        ApplyProjectKey(request.ProjectKey, definition, context);
        if (source == "template" && definition.TemplateName.Length == 0)
            throw ZadigErrors.Bad("template_name", "template_name is required when source=template");
        if (source == "" && (definition.TemplateName.Length > 0 || definition.TargetServices.Count > 0))
            throw ZadigErrors.Bad("template_name", "template_name and target_services make a build from a template: use POST /openapi/build?source=template");
        try
        {
            await definitions.CreateDefinitionAsync(new CreateDefinitionRequest { Definition = definition });
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.AlreadyExists)
        {
            throw ZadigErrors.Module(ZadigErrors.CreateBuildModule, e);
        }
        return Success;
    }

    public override async Task<ZadigMessage> UpdateBuild(UpdateBuildRequest request, ServerCallContext context)
    {
        var definition = ZadigBody.Read<Definition>(request.Body);
        ApplyProjectKey(request.ProjectKey, definition, context);
        if (definition.TemplateName.Length > 0 || definition.TargetServices.Count > 0)
            throw ZadigErrors.Bad("template_name", "a build from a template is updated with PUT /openapi/build/{name}/template");
        await UpdateAsync(definition, ZadigErrors.UpdateBuildModule, context);
        return Success;
    }

    public override async Task<ZadigMessage> UpdateTemplateBuild(UpdateTemplateBuildRequest request, ServerCallContext context)
    {
        var definition = ZadigBody.Read<Definition>(request.Body);
        if (definition.Name.Length > 0 && definition.Name != request.Name)
            throw ZadigErrors.Bad("name", $"name '{definition.Name}' in the body differs from '{request.Name}' in the path");
        definition.Name = request.Name;
        ApplyProjectKey(request.ProjectKey, definition, context);
        if (definition.TemplateName.Length == 0)
            throw ZadigErrors.Bad("template_name", "template_name is required");
        await UpdateAsync(definition, ZadigErrors.GetBuildModule, context);
        return Success;
    }

    public override async Task<ListBuildsResponse> ListBuilds(ListBuildsRequest request, ServerCallContext context)
    {
        RequireQuery(request.ProjectKey, "projectKey", context);
        var page = Integer(request.PageNum, "pageNum", 1, context);
        var size = Integer(request.PageSize, "pageSize", 20, context);
        var all = await AllDefinitionsAsync(request.ProjectKey, context);
        var response = new ListBuildsResponse { Total = all.Count };
        // As Zadig's BuildColl.ListByOptions: pages only when pageNum and pageSize are both positive, else every build.
        var shown = page > 0 && size > 0 ? all.Skip((int)Math.Min((page - 1) * size, int.MaxValue)).Take((int)Math.Min(size, int.MaxValue)) : all;
        foreach (var definition in shown)
        {
            var item = new BuildItem
            {
                Name = definition.Name, ProjectKey = definition.ProjectKey, Source = definition.Source, UpdateBy = definition.UpdateBy,
                UpdateTime = definition.UpdateTime?.Seconds ?? 0,
            };
            item.TargetServices.Add(Targets(definition));
            response.Builds.Add(item);
        }
        return response;
    }

    public override async Task<BuildDetail> GetBuildDetail(GetBuildDetailRequest request, ServerCallContext context)
    {
        RequireQuery(request.ProjectKey, "projectKey", context);
        RequireQuery(request.ServiceName, "serviceName", context);
        RequireQuery(request.ServiceModule, "serviceModule", context);
        Definition definition;
        try
        {
            definition = await definitions.GetDefinitionAsync(new GetDefinitionRequest
            {
                ProjectKey = request.ProjectKey, Name = request.Name, ServiceName = request.ServiceName, ServiceModule = request.ServiceModule,
            });
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound && e.Info()?.Reason == Reasons.BuildDefinitionNotFound)
        {
            throw ZadigErrors.Module(ZadigErrors.GetBuildModule, e);
        }
        var hosts = definition.RepoInfo.Count > 0
            ? (await definitions.ListCodeHostsAsync(new ListCodeHostsRequest())).CodeHosts.ToDictionary(h => h.Name)
            : [];
        return Detail(definition, hosts);
    }

    public override async Task<ZadigMessage> DeleteBuild(DeleteBuildRequest request, ServerCallContext context)
    {
        RequireQuery(request.Name, "name", context);
        RequireQuery(request.ProjectKey, "projectKey", context);
        try
        {
            await definitions.DeleteDefinitionAsync(new DeleteDefinitionRequest { ProjectKey = request.ProjectKey, Name = request.Name });
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound && e.Info()?.Reason == Reasons.BuildDefinitionNotFound)
        {
            // Zadig deletes by query: a build that is not there is deleted already.
        }
        return Success;
    }

    /// <summary>An update; a build that does not exist is Zadig's module error (6521 update, 6523 update from a template).</summary>
    async Task UpdateAsync(Definition definition, (int Code, string Title) missing, ServerCallContext context)
    {
        try
        {
            await definitions.UpdateDefinitionAsync(new UpdateDefinitionRequest { Definition = definition });
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound && e.Info()?.Reason == Reasons.BuildDefinitionNotFound)
        {
            throw ZadigErrors.Module(missing, e);
        }
    }

    /// <summary>Builds a project may hold before the list stops reading (Zadig lists a project's builds in one query).</summary>
    const int MaxListed = 20_000;

    /// <summary>Every build of a project in creation order, as Zadig's unsorted Mongo query returns them (then by name).</summary>
    async Task<List<Definition>> AllDefinitionsAsync(string projectKey, ServerCallContext context)
    {
        const int size = 1000;
        var all = new List<Definition>();
        for (var page = 1; all.Count < MaxListed; page++)
        {
            var answer = await definitions.ListDefinitionsAsync(new ListDefinitionsRequest { ProjectKey = projectKey, Page = page, PageSize = size });
            all.AddRange(answer.Definitions);
            if (answer.Definitions.Count < size || all.Count >= answer.Total)
                break;
        }
        return all.OrderBy(d => d.CreateTime?.ToDateTimeOffset() ?? DateTimeOffset.MinValue).ThenBy(d => d.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>Zadig's default resource request of a build made without advanced settings (openapi.go: cpu 1000, memory 512).</summary>
    static ResourceSpec DefaultResourceSpec => new() { CpuLimit = 1000, MemoryLimit = 512, GpuLimit = "" };

    static BuildDetail Detail(Definition definition, IReadOnlyDictionary<string, CodeHost> hosts)
    {
        var detail = new BuildDetail
        {
            ProjectKey = definition.ProjectKey,
            Name = definition.Name,
            Source = definition.Source,
            TemplateName = definition.TemplateName,
            UpdateBy = definition.UpdateBy,
            UpdateTime = definition.UpdateTime?.Seconds ?? 0,
            BuildEnv = new BuildEnv { BasicImageLabel = definition.BuildOs, Installs = { definition.Installs } },
            BuildScript = definition.BuildScript,
            Infrastructure = definition.Infrastructure,
            ScriptType = definition.ScriptType,
        };
        detail.TargetServices.Add(Targets(definition));
        detail.Services.Add(definition.Services.Select(s => new ServiceItem { ServiceName = s.ServiceName, ServiceModule = s.ServiceModule }));
        foreach (var repo in definition.RepoInfo)
        {
            var host = hosts.GetValueOrDefault(repo.CodehostName);
            detail.Repos.Add(new DetailRepo
            {
                Source = host?.Source ?? "other", RepoOwner = repo.RepoNamespace, RepoName = repo.RepoName, RemoteName = "origin",
                Branch = repo.Branch, Address = host?.Url ?? "", CodehostName = repo.CodehostName, RepoNamespace = repo.RepoNamespace,
            });
        }
        var advanced = definition.AdvancedSettings?.Clone() ?? new AdvancedSettings();
        if (advanced.Timeout == 0)
            advanced.Timeout = DefaultTimeoutMinutes;
        if (advanced.ResourceSpec is null || advanced.ResourceSpec.Equals(new ResourceSpec()))
            advanced.ResourceSpec = DefaultResourceSpec;
        advanced.CacheSetting ??= new CacheSetting();
        detail.AdvancedSettings = advanced;
        foreach (var parameter in definition.Parameters)
        {
            detail.Parameters.Add(new DetailParameter
            {
                Key = parameter.Key, Value = parameter.DefaultValue, Type = parameter.Type, IsCredential = parameter.IsCredential,
                Description = parameter.Description, ChoiceOption = { parameter.ChoiceOption }, ChoiceValue = { parameter.ChoiceValue },
            });
        }
        // Zadig starts every build's outputs with IMAGE and PKG_FILE, then the build's own.
        detail.Outputs.Add(LeadingOutputs.Concat(advanced.Outputs.Except(LeadingOutputs)).Select(name => new DetailOutput { Name = name }));
        detail.PostBuild = new PostBuild { ObjectStorageUpload = new ObjectStorageUpload(), FileArchive = new FileArchive(), Scripts = "" };
        if (definition.DockerBuildStep is { } docker && !docker.Equals(new DockerBuildStep()))
        {
            detail.PostBuild.DockerBuild = new Zv1.DockerBuild
            {
                WorkDir = docker.BuildContextDir, DockerFile = docker.DockerfileDirectory, BuildArgs = docker.BuildArgs,
                Source = docker.DockerfileSource, TemplateName = docker.TemplateName, EnableBuildkit = docker.EnableBuildkit,
                Platforms = docker.Platforms,
            };
        }
        return detail;
    }

    /// <summary>A template-made build's target services, or the services a build is bound to.</summary>
    static IEnumerable<ServiceItem> Targets(Definition definition) =>
        definition.TemplateName.Length > 0
            ? definition.TargetServices.Select(t => new ServiceItem { ServiceName = t.ServiceName, ServiceModule = t.ServiceModule })
            : definition.Services.Select(s => new ServiceItem { ServiceName = s.ServiceName, ServiceModule = s.ServiceModule });

    static void ApplyProjectKey(string query, Definition definition, ServerCallContext context)
    {
        if (query.Length > 0 && definition.ProjectKey.Length > 0 && query != definition.ProjectKey)
            throw ZadigErrors.Bad("projectKey", $"projectKey '{query}' in the query and project_key '{definition.ProjectKey}' in the body differ");
        if (definition.ProjectKey.Length == 0)
            definition.ProjectKey = query;
    }

    static void RequireQuery(string value, string name, ServerCallContext context)
    {
        if (value.Length == 0)
            throw ZadigErrors.Bad(name, $"{name} is required");
    }

    /// <summary>An integer query parameter as Zadig's form binding reads it (int64; 0 or less means no paging).</summary>
    static long Integer(string value, string name, long fallback, ServerCallContext context)
    {
        if (value.Length == 0)
            return fallback;
        if (!long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number))
            throw ZadigErrors.Bad(name, $"{name} must be an integer, not '{value}'");
        return number;
    }

}
