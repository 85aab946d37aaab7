using BuildGrid.Builds.V1;
using BuildGrid.Gateway.Rest.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace BuildGrid.Gateway.Rest;

/// <summary>
/// BuildGrid's own REST extension under /buildgrid/v1 (rest.proto): build templates, code hosts and runs of build
/// definitions. Each call goes to the Builds service through its typed clients (in this process or another one);
/// the domain's status and ErrorInfo reach the caller unchanged as google.rpc.Status JSON. The path's name wins over
/// a name in the body.
/// </summary>
public sealed class BuildGridRestService(BuildDefinitions.BuildDefinitionsClient definitions, BuildRuns.BuildRunsClient runs)
    : BuildGridRest.BuildGridRestBase
{
    static readonly Google.Protobuf.JsonParser InputsParser = new(Google.Protobuf.JsonParser.Settings.Default.WithIgnoreUnknownFields(true));


    static string PathValue(ServerCallContext context, string name, string fallback) =>
        context.GetHttpContext().Request.RouteValues.TryGetValue(name, out var value) && value is string text ? text : fallback;

    public override async Task<Template> CreateBuildTemplate(Template request, ServerCallContext context) =>
        await definitions.CreateTemplateAsync(request);

    public override async Task<ListTemplatesResponse> ListBuildTemplates(ListTemplatesRequest request, ServerCallContext context) =>
        await definitions.ListTemplatesAsync(request);

    public override async Task<Template> GetBuildTemplate(GetTemplateRequest request, ServerCallContext context) =>
        await definitions.GetTemplateAsync(request);

    public override async Task<Template> UpdateBuildTemplate(Template request, ServerCallContext context)
    {
        request.Name = PathValue(context, "name", request.Name);
        return await definitions.UpdateTemplateAsync(request);
    }

    public override async Task<Empty> DeleteBuildTemplate(DeleteTemplateRequest request, ServerCallContext context) =>
        await definitions.DeleteTemplateAsync(request);

    public override async Task<CodeHost> CreateCodeHost(CodeHost request, ServerCallContext context) =>
        await definitions.CreateCodeHostAsync(request);

    public override async Task<ListCodeHostsResponse> ListCodeHosts(ListCodeHostsRequest request, ServerCallContext context) =>
        await definitions.ListCodeHostsAsync(request);

    public override async Task<CodeHost> GetCodeHost(GetCodeHostRequest request, ServerCallContext context) =>
        await definitions.GetCodeHostAsync(request);

    public override async Task<CodeHost> UpdateCodeHost(CodeHost request, ServerCallContext context)
    {
        request.Name = PathValue(context, "name", request.Name);
        return await definitions.UpdateCodeHostAsync(request);
    }

    public override async Task<Empty> DeleteCodeHost(DeleteCodeHostRequest request, ServerCallContext context) =>
        await definitions.DeleteCodeHostAsync(request);

    public override async Task<Run> StartBuildRun(StartBuildRunRequest request, ServerCallContext context)
    {
        var body = new RunInputs();
        try
        {
            if (Dialects.LenientBody.Parse(request.Body) is { } json)
                body = InputsParser.Parse<RunInputs>(json.ToJsonString());
        }
        catch (Exception e) when (e is Dialects.BadBodyException or Google.Protobuf.InvalidProtocolBufferException or Google.Protobuf.InvalidJsonException)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "body: " + e.Message));
        }
        return await definitions.StartDefinitionRunAsync(new StartDefinitionRunRequest
        {
            ProjectKey = request.ProjectKey, Name = request.Name, ServiceName = body.ServiceName, ServiceModule = body.ServiceModule,
            Inputs = { body.Inputs }, Tag = body.Tag, Operator = body.Operator,
        });
    }

    public override async Task<ListRunsResponse> ListBuildRuns(ListBuildRunsRequest request, ServerCallContext context)
    {
        if (request.ProjectKey.Length == 0)
            throw new RpcException(new Status(StatusCode.InvalidArgument, "projectKey is required"));
        return await runs.ListRunsAsync(new ListRunsRequest
        {
            Project = request.ProjectKey, Definition = request.Name, Page = request.Page, PageSize = request.PageSize,
        });
    }

    public override async Task<Run> GetRun(GetRunRequest request, ServerCallContext context) =>
        await runs.GetRunAsync(request);

    public override async Task<ReadRunLogResponse> ReadRunLog(ReadRunLogRequest request, ServerCallContext context) =>
        await runs.ReadRunLogAsync(request);

    public override async Task<Run> CancelRun(CancelRunRequest request, ServerCallContext context) =>
        await runs.CancelRunAsync(request);
}
