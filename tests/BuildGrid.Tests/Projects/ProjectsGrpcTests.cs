using BuildGrid.Core.Errors;
using BuildGrid.Core.Events;
using BuildGrid.Projects.V1;
using BuildGrid.Tests.Infrastructure;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using System.Text.Json;
using ProjectsClient = BuildGrid.Projects.V1.Projects.ProjectsClient;

namespace BuildGrid.Tests.Projects;

/// <summary>The typed gRPC API of the Projects service, over a real h2c channel to the standalone host.</summary>
[Collection(StandaloneCollection.Name)]
public sealed class ProjectsGrpcTests(StandaloneFixture fixture) : IDisposable
{
    public void Dispose() => fixture.AssertNoErrorsLogged();

    readonly ProjectsClient client = new(fixture.Channel);
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static void AssertError(RpcException e, StatusCode code, string reason)
    {
        Assert.Equal(code, e.StatusCode);
        Assert.Equal(reason, e.Info()?.Reason);
    }

    /// <summary>
    /// Found by the hostile campaign: grpc-dotnet answered a request that is no valid message with Unknown and logged an
    /// error (Dispose fails the test on a logged error). Bytes that parse still reach the service.
    /// </summary>
    [Theory]
    [InlineData(new byte[] { 0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x41 })] // a length past the end
    [InlineData(new byte[] { 0x17, 0x01 })]                               // a reserved wire type
    [InlineData(new byte[] { 0x0A, 0x02, 0xC0, 0xAF })]                   // field 1 (a string) as overlong UTF-8
    public async Task A_request_that_is_no_valid_message_is_an_invalid_argument(byte[] payload)
    {
        var raw = Marshallers.Create(b => b, b => b);
        var method = new Method<byte[], byte[]>(MethodType.Unary, "buildgrid.projects.v1.Projects", "GetProject", raw, raw);
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            fixture.Channel.CreateCallInvoker().AsyncUnaryCall(method, null, new CallOptions(cancellationToken: Ct), payload).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);

        var valid = new GetProjectRequest { Name = ImageMarketApi.UniqueName("raw") }.ToByteArray();
        var missing = await Assert.ThrowsAsync<RpcException>(() =>
            fixture.Channel.CreateCallInvoker().AsyncUnaryCall(method, null, new CallOptions(cancellationToken: Ct), valid).ResponseAsync);
        AssertError(missing, StatusCode.NotFound, Reasons.ProjectNotFound);
    }

    [Fact]
    public async Task Create_get_save_clone_list_delete()
    {
        var name = ImageMarketApi.UniqueName("grpc");
        var created = await client.CreateProjectAsync(new CreateProjectRequest { Name = name, Operator = "ann", Cluster = "team_b" }, cancellationToken: Ct);
        Assert.Equal(1, created.Version);
        Assert.Equal("team_b", created.Cluster);

        var saved = await client.SaveProjectAsync(new SaveProjectRequest
        {
            Mode = SaveProjectRequest.Types.Mode.Update, Name = name, Operator = "ben", ExpectedVersion = 1,
            Plugins =
            {
                new PluginStep { Plugin = "base-image", Parameters = Struct.Parser.ParseJson("""{"image":"alpine:3.20"}""") },
                new PluginStep { Plugin = "run", Parameters = Struct.Parser.ParseJson("""{"command":"echo one\necho two"}""") },
                new PluginStep { Plugin = "entrypoint", Parameters = Struct.Parser.ParseJson("""{"command":["/bin/sh","-c","echo hi"]}""") },
            },
        }, cancellationToken: Ct);
        Assert.Equal(2, saved.Version);
        Assert.Equal(DockerfileType.Plugin, saved.DockerfileType);

        var stale = await Assert.ThrowsAsync<RpcException>(() => client.SaveProjectAsync(new SaveProjectRequest
        {
            Mode = SaveProjectRequest.Types.Mode.Update, Name = name, ExpectedVersion = 1, DockerfileType = DockerfileType.Define, Dockerfile = "FROM x",
        }, cancellationToken: Ct).ResponseAsync);
        AssertError(stale, StatusCode.Aborted, Reasons.ConcurrentModification);

        var dockerfile = await client.RenderDockerfileAsync(new RenderDockerfileRequest { Name = name }, cancellationToken: Ct);
        Assert.Equal(
            $"# Rendered by BuildGrid from the 3 plugin steps of project {name}.\nFROM alpine:3.20\nRUN [\"/bin/sh\", \"-c\", \"echo one\\necho two\"]\nENTRYPOINT [\"/bin/sh\", \"-c\", \"echo hi\"]\n",
            dockerfile.Dockerfile);

        var copy = await client.CloneProjectAsync(new CloneProjectRequest { SourceName = name, TargetName = name + "-copy", Operator = "cid" }, cancellationToken: Ct);
        Assert.Equal(3, copy.Plugins.Count);
        Assert.Equal("cid", copy.Creator);

        var list = await client.ListProjectsAsync(new ListProjectsRequest { NameContains = name, PageSize = 1, Page = 2 }, cancellationToken: Ct);
        Assert.Equal(2, list.TotalCount);
        Assert.Equal(name + "-copy", Assert.Single(list.Projects).Name);

        await client.DeleteProjectAsync(new DeleteProjectRequest { Name = name, Operator = "ann" }, cancellationToken: Ct);
        var missing = await Assert.ThrowsAsync<RpcException>(() => client.GetProjectAsync(new GetProjectRequest { Name = name }, cancellationToken: Ct).ResponseAsync);
        AssertError(missing, StatusCode.NotFound, Reasons.ProjectNotFound);
        Assert.Equal(name, missing.Info()!.Metadata["id"]);
    }

    [Fact]
    public async Task Errors_carry_status_codes_and_reasons()
    {
        var exists = ImageMarketApi.UniqueName("err");
        await client.CreateProjectAsync(new CreateProjectRequest { Name = exists }, cancellationToken: Ct);
        AssertError(await Assert.ThrowsAsync<RpcException>(() => client.CreateProjectAsync(new CreateProjectRequest { Name = exists }, cancellationToken: Ct).ResponseAsync),
            StatusCode.AlreadyExists, Reasons.ProjectAlreadyExists);
        var invalid = await Assert.ThrowsAsync<RpcException>(() => client.CreateProjectAsync(new CreateProjectRequest { Name = "a/b" }, cancellationToken: Ct).ResponseAsync);
        AssertError(invalid, StatusCode.InvalidArgument, Reasons.InvalidName);
        Assert.Equal("/", invalid.Info()!.Metadata["char"]);
        AssertError(await Assert.ThrowsAsync<RpcException>(() => client.DeleteProjectAsync(new DeleteProjectRequest { Name = exists + "x" }, cancellationToken: Ct).ResponseAsync),
            StatusCode.NotFound, Reasons.ProjectNotFound);
        AssertError(await Assert.ThrowsAsync<RpcException>(() => client.InvokePluginAsync(new InvokePluginRequest { Plugin = "nope", Method = "describe" }, cancellationToken: Ct).ResponseAsync),
            StatusCode.NotFound, Reasons.PluginNotFound);
        AssertError(await Assert.ThrowsAsync<RpcException>(() => client.RenderDockerfileAsync(new RenderDockerfileRequest { Name = exists }, cancellationToken: Ct).ResponseAsync),
            StatusCode.FailedPrecondition, Reasons.InvalidArgument);
        AssertError(await Assert.ThrowsAsync<RpcException>(() => client.SaveProjectAsync(new SaveProjectRequest { Name = exists }, cancellationToken: Ct).ResponseAsync),
            StatusCode.InvalidArgument, Reasons.InvalidArgument);
        AssertError(await Assert.ThrowsAsync<RpcException>(() => client.SaveProjectAsync(new SaveProjectRequest
        {
            Mode = SaveProjectRequest.Types.Mode.Update, Name = exists, Plugins = { new PluginStep { Plugin = "env", Parameters = Struct.Parser.ParseJson("""{"variables":{"BAD NAME":"x"}}""") } },
        }, cancellationToken: Ct).ResponseAsync), StatusCode.InvalidArgument, Reasons.PluginInvalidParameters);
    }

    [Fact]
    public async Task Every_plugin_describes_itself_and_the_list_is_stable()
    {
        var plugins = await client.ListPluginsAsync(new ListPluginsRequest(), cancellationToken: Ct);
        Assert.Equal(["base-image", "cmd", "copy-file", "download-file", "entrypoint", "env", "expose", "label", "packages", "run", "user", "workdir"],
            plugins.Plugins.Select(p => p.Name));
        Assert.All(plugins.Plugins, p => Assert.NotEmpty(p.Parameters));
        Assert.Contains("download file", plugins.Plugins.Single(p => p.Name == "download-file").Methods);
    }

    [Theory]
    [InlineData("copy-file", """{"source":"../secret","destination":"/app"}""")]
    [InlineData("copy-file", """{"source":"/etc/passwd","destination":"/app"}""")]
    [InlineData("workdir", """{"path":"relative"}""")]
    [InlineData("expose", """{"ports":["70000"]}""")]
    [InlineData("user", """{"user":"root\nRUN id"}""")]
    [InlineData("download-file", """{"url":"file:///etc/passwd","destination":"/x"}""")]
    [InlineData("label", """{"labels":"not a map"}""")]
    public async Task Plugin_parameters_cannot_escape_or_inject(string plugin, string parameters)
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => client.InvokePluginAsync(
            new InvokePluginRequest { Plugin = plugin, Method = "render", Parameters = Struct.Parser.ParseJson(parameters) }, cancellationToken: Ct).ResponseAsync);
        AssertError(e, StatusCode.InvalidArgument, Reasons.PluginInvalidParameters);
    }

    [Fact]
    public async Task Writes_publish_project_events_as_cloud_events()
    {
        var bus = fixture.Services.GetRequiredService<InProcessEventBus>();
        var received = new System.Collections.Concurrent.ConcurrentQueue<CloudEvent>();
        var name = ImageMarketApi.UniqueName("evt");
        using var created = bus.Subscribe("buildgrid.project.created", (e, _) => { received.Enqueue(e); return Task.CompletedTask; });
        using var deleted = bus.Subscribe("buildgrid.project.deleted", (e, _) => { received.Enqueue(e); return Task.CompletedTask; });

        await client.CreateProjectAsync(new CreateProjectRequest { Name = name, Operator = "eve" }, cancellationToken: Ct);
        await client.DeleteProjectAsync(new DeleteProjectRequest { Name = name, Operator = "eve" }, cancellationToken: Ct);

        var mine = await Eventually.Async(() => received.Where(e => e.Data.Contains(name)).ToList(), l => l.Count == 2);
        Assert.Equal(["buildgrid.project.created", "buildgrid.project.deleted"], mine.Select(e => e.Topic));
        Assert.Equal("buildgrid.events.v1.ProjectCreated", mine[0].Type);
        Assert.Equal("/buildgrid/projects", mine[0].Source);
        var data = JsonDocument.Parse(mine[0].Data).RootElement;
        Assert.Equal(name, data.GetProperty("name").GetString());
        Assert.Equal("eve", data.GetProperty("operator").GetString());
        Assert.Equal("default_cluster", data.GetProperty("cluster").GetString());
        Assert.NotEqual(mine[0].Id, mine[1].Id);
    }
}
