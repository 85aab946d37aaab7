using System.Globalization;
using System.Text.RegularExpressions;
using BuildGrid.Core.Errors;
using BuildGrid.Gateway.ImageMarket.V1;
using BuildGrid.Projects.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Im = BuildGrid.Gateway.ImageMarket.V1;
using Pv1 = BuildGrid.Projects.V1;

namespace BuildGrid.Gateway.Dialects.ImageMarket;

/// <summary>
/// The image-market facade (seed 000 §1-6, 9, 10): binds each REST call, calls the Projects service, and answers the
/// envelope. Every path answers an envelope: its failures are turned into one by <see cref="ImageMarketAnswers"/>
/// (domain errors through <see cref="ImageMarketCodes"/>, unreadable bodies as 10006, anything unexpected as 10100).
/// </summary>
public sealed partial class ImageMarketService(Pv1.Projects.ProjectsClient projects, Builds.V1.BuildRuns.BuildRunsClient builds)
    : Im.ImageMarket.ImageMarketBase
{

    public override async Task<Envelope> NewProject(NewProjectRequest request, ServerCallContext context)
    {
        LenientBody.MergeInto(request, request.Body);
        await projects.CreateProjectAsync(new CreateProjectRequest
        {
            Name = request.ProjectName, Operator = request.Operator, Cluster = request.Cluster,
        });
        return ImageMarketCodes.Success();
    }

    public override async Task<Envelope> DeleteProject(Im.DeleteProjectRequest request, ServerCallContext context)
    {
        LenientBody.MergeInto(request, request.Body);
        await projects.DeleteProjectAsync(new Pv1.DeleteProjectRequest { Name = request.ProjectName, Operator = request.Operator });
        return ImageMarketCodes.Success();
    }

    public override async Task<Envelope> CloneProject(Im.CloneProjectRequest request, ServerCallContext context)
    {
        LenientBody.MergeInto(request, request.Body);
        await projects.CloneProjectAsync(new Pv1.CloneProjectRequest
        {
            SourceName = request.SrcProjectName, TargetName = request.DstProjectName, Operator = request.Operator,
        });
        return ImageMarketCodes.Success();
    }

    public override async Task<Envelope> ProjectInfo(ProjectInfoRequest request, ServerCallContext context)
    {
        LenientBody.MergeInto(request, request.Body);
        var project = await projects.GetProjectAsync(new GetProjectRequest { Name = request.ProjectName });
        return ImageMarketCodes.Success(Value.ForStruct(Info(project)));
    }

    public override async Task<Envelope> ListProjects(Im.ListProjectsRequest request, ServerCallContext context)
    {
        LenientBody.MergeInto(request, request.Body);
        var page = PositiveOrDefault(request.Page, "page");
        var size = PositiveOrDefault(request.PageSize, "page_size");
        var result = await projects.ListProjectsAsync(new Pv1.ListProjectsRequest
        {
            Page = page, PageSize = size, NameContains = request.ProjectName,
        });
        var data = new ListValue();
        data.Values.AddRange(result.Projects.Select(p => Value.ForStruct(Info(p))));
        return ImageMarketCodes.Success(Value.ForStruct(new Struct
        {
            Fields =
            {
                ["data"] = Value.ForList([.. data.Values]),
                ["page"] = Value.ForNumber(result.Page),
                ["page_size"] = Value.ForNumber(result.PageSize),
                ["total_count"] = Value.ForNumber(result.TotalCount),
            },
        }));
    }

    public override async Task<Envelope> SaveProject(Im.SaveProjectRequest request, ServerCallContext context)
    {
        LenientBody.MergeInto(request, request.Body, PluginAlias);
        var mode = request.AddOrUpdate.Trim().ToLowerInvariant() switch
        {
            "add" => Pv1.SaveProjectRequest.Types.Mode.Add,
            "update" => Pv1.SaveProjectRequest.Types.Mode.Update,
            _ => throw new BadBodyException($"addOrUpdate must be 'add' or 'update', not '{request.AddOrUpdate}'"),
        };
        var type = request.DefineDockerFileType.Trim().ToLowerInvariant() switch
        {
            "" => DockerfileType.Unspecified,
            "define" => DockerfileType.Define,
            "plugin" or "plugins" => DockerfileType.Plugin,
            _ => throw new BadBodyException($"DefineDockerFileType must be 'define' or 'plugin', not '{request.DefineDockerFileType}'"),
        };
        var save = new Pv1.SaveProjectRequest
        {
            Mode = mode, Name = request.Project, Cluster = request.Cluster, Operator = request.Operator,
            DockerfileType = type, Dockerfile = request.Dockerfile,
            BuildContext = request.BuildContext is { } buildContext
                ? new Pv1.BuildContext { GitUrl = buildContext.GitUrl, GitRef = buildContext.GitRef } : null,
        };
        // Empty objects ({} in the seed's example) name no plugin: there is nothing to add for them.
        save.Plugins.AddRange(request.Plugin.Where(p => p.Fields.Count > 0).Select(Step));
        await projects.SaveProjectAsync(save);
        return ImageMarketCodes.Success();
    }

    public override async Task<Envelope> PluginInterface(PluginInterfaceRequest request, ServerCallContext context)
    {
        var root = LenientBody.MergeInto(request, request.Body);
        // 10004 is the only parameter-error code the extension interface documents: a missing plugin or method is one.
        if (string.IsNullOrWhiteSpace(request.Plugin))
            return ImageMarketCodes.PluginParameterError("plugin is required");
        if (string.IsNullOrWhiteSpace(request.Method))
            return ImageMarketCodes.PluginParameterError("method is required");
        var parameters = request.Params;
        if (parameters is null && root is not null)
        {
            // Parameters may also stand beside plugin and method instead of inside "params".
            var rest = root.Where(m => m.Key is not ("plugin" or "method" or "operator" or "params")).ToList();
            parameters = Struct.Parser.ParseJson(new System.Text.Json.Nodes.JsonObject(
                rest.Select(m => KeyValuePair.Create(m.Key, m.Value?.DeepClone()))).ToJsonString());
        }
        var result = await projects.InvokePluginAsync(new InvokePluginRequest
        {
            Plugin = request.Plugin, Method = request.Method, Parameters = parameters ?? new Struct(),
        });
        return ImageMarketCodes.Success(result.Result ?? Value.ForNull());
    }

    public override async Task<Envelope> BuildProject(BuildProjectRequest request, ServerCallContext context)
    {
        LenientBody.MergeInto(request, request.Body);
        var run = await builds.StartProjectBuildAsync(new Builds.V1.StartProjectBuildRequest
        {
            Project = request.ProjectName, Tag = request.Tag, Operator = request.Operator,
        });
        return ImageMarketCodes.Success(Value.ForStruct(new Struct { Fields = { ["idStr"] = Value.ForString(run.Id) } }));
    }

    public override async Task<Envelope> BuildHistory(BuildHistoryRequest request, ServerCallContext context)
    {
        LenientBody.MergeInto(request, request.Body);
        var page = PositiveOrDefault(request.Page, "page");
        var size = PositiveOrDefault(request.PageSize, "page_size");
        // The project must exist (10008 otherwise); its name is checked by the Projects service.
        var project = await projects.GetProjectAsync(new GetProjectRequest { Name = request.ProjectName });
        var result = await builds.ListRunsAsync(new Builds.V1.ListRunsRequest { Project = project.Name, Page = page, PageSize = size });
        var data = result.Runs.Select(r => Value.ForStruct(new Struct
        {
            Fields =
            {
                ["idStr"] = Value.ForString(r.Id),
                ["tag"] = Value.ForString(r.Tag),
                ["status"] = Value.ForString(StatusWord(r.State)),
                ["operator"] = Value.ForString(r.Operator),
                ["queueTime"] = Value.ForString(Time(r.QueueTime)),
                ["startTime"] = Value.ForString(Time(r.StartTime)),
                ["finishTime"] = Value.ForString(Time(r.FinishTime)),
                ["image"] = Value.ForString(r.Image),
                ["imageDigest"] = Value.ForString(r.ImageDigest),
                ["failureReason"] = Value.ForString(r.FailureReason),
                ["attempt"] = Value.ForNumber(r.Attempt),
            },
        }));
        return ImageMarketCodes.Success(Value.ForStruct(new Struct
        {
            Fields =
            {
                ["data"] = Value.ForList([.. data]),
                ["page"] = Value.ForNumber(result.Page),
                ["page_size"] = Value.ForNumber(result.PageSize),
                ["total_count"] = Value.ForNumber(result.TotalCount),
            },
        }));
    }

    public override async Task<ViewConfigResponse> ViewConfig(ViewConfigRequest request, ServerCallContext context)
    {
        LenientBody.MergeInto(request, request.Body);
        var project = await projects.GetProjectAsync(new GetProjectRequest { Name = request.ProjectName });
        string? dockerfile = null, problem = null;
        try
        {
            dockerfile = (await projects.RenderDockerfileAsync(new RenderDockerfileRequest { Name = project.Name })).Dockerfile;
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.FailedPrecondition or StatusCode.InvalidArgument or StatusCode.NotFound)
        {
            problem = e.Status.Detail;
        }
        return new ViewConfigResponse { Data = ConfigPage.Render(project, dockerfile, problem) };
    }

    static int PositiveOrDefault(string text, string name)
    {
        if (string.IsNullOrWhiteSpace(text))
            return 0;
        return int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= 1
            ? value
            : throw new BadBodyException($"{name} must be a positive integer, not '{text}'");
    }

    [GeneratedRegex(@"^(\$\$|\d+)?plugins?$")]
    private static partial Regex PluginKey();

    /// <summary>"$$plugin" arrives as "12345plugin" when a shell expands $$ in a double-quoted curl body, as in the seed.</summary>
    static string PluginAlias(string key) => PluginKey().IsMatch(key) ? "$$plugin" : key;

    /// <summary>A $$plugin item's parameters, under either name the seed uses.</summary>
    static readonly string[] ParameterKeys = ["params", "parameters"];

    static PluginStep Step(Struct item)
    {
        string Text(params string[] names) => names.Select(n => item.Fields.TryGetValue(n, out var v) ? v : null)
            .FirstOrDefault(v => v is not null) is { KindCase: Value.KindOneofCase.StringValue } v ? v.StringValue
            : throw new BadBodyException("each $$plugin item needs a \"name\" string");
        var parameters = ParameterKeys.Select(n => item.Fields.TryGetValue(n, out var v) ? v : null).FirstOrDefault(v => v is not null);
        return new PluginStep
        {
            Plugin = Text("name", "plugin"),
            Parameters = parameters switch
            {
                null or { KindCase: Value.KindOneofCase.NullValue } => new Struct(),
                { KindCase: Value.KindOneofCase.StructValue } => parameters.StructValue,
                _ => throw new BadBodyException("$$plugin params must be an object"),
            },
        };
    }

    internal static string Time(Timestamp? time) =>
        time is null ? "" : time.ToDateTimeOffset().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    static Struct Info(Project project)
    {
        var plugins = project.Plugins.Select(p => Value.ForStruct(new Struct
        {
            Fields = { ["name"] = Value.ForString(p.Plugin), ["params"] = Value.ForStruct(p.Parameters ?? new Struct()) },
        }));
        return new Struct
        {
            Fields =
            {
                ["creator"] = Value.ForString(project.Creator),
                ["name"] = Value.ForString(project.Name),
                ["createTime"] = Value.ForString(Time(project.CreateTime)),
                ["lastModifyTime"] = Value.ForString(Time(project.UpdateTime)),
                ["lastModifyOperator"] = Value.ForString(project.UpdateOperator),
                ["Cluster"] = Value.ForString(project.Cluster),
                ["DefineDockerFileType"] = Value.ForString(project.DockerfileType == DockerfileType.Define ? "define" : "plugin"),
                ["$$plugin"] = Value.ForList([.. plugins]),
                ["Dockerfile"] = Value.ForString(project.Dockerfile),
                // Extensions: the last build that ended (empty before the first).
                ["lastBuildId"] = Value.ForString(project.LastBuild?.RunId ?? ""),
                ["lastBuildStatus"] = Value.ForString(project.LastBuild?.Status ?? ""),
                ["lastBuildTag"] = Value.ForString(project.LastBuild?.Tag ?? ""),
                ["lastBuildDigest"] = Value.ForString(project.LastBuild?.ImageDigest ?? ""),
                ["lastBuildTime"] = Value.ForString(Time(project.LastBuild?.FinishTime)),
            },
        };
    }

    /// <summary>
    /// A run's state as buildHistory's <c>status</c> word: the proto name without its prefix, lower case
    /// (<c>RUN_STATE_TIMED_OUT</c> is <c>timed_out</c>); <c>unknown</c> for a state this gateway does not know.
    /// </summary>
    static string StatusWord(Builds.V1.RunState state) =>
        state != Builds.V1.RunState.Unspecified && StatusWords.TryGetValue(state, out var word) ? word : "unknown";

    static readonly Dictionary<Builds.V1.RunState, string> StatusWords =
        Builds.V1.RunsReflection.Descriptor.EnumTypes.Single(e => e.ClrType == typeof(Builds.V1.RunState)).Values
            .ToDictionary(v => (Builds.V1.RunState)v.Number, v => v.Name["RUN_STATE_".Length..].ToLowerInvariant());
}
