using System.Net;
using System.Text.Json.Nodes;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Errors;
using BuildGrid.Tests.Infrastructure;
using Grpc.Core;

namespace BuildGrid.Tests.Zadig;

/// <summary>
/// Runs of build definitions on a standalone host: real git (local bare repositories behind a file:// code host), real
/// bash, the embedded Garnet queue. Started through the /buildgrid/v1 REST extension and the BuildDefinitions gRPC API.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class ZadigRunsTests(StandaloneFixture fixture) : IDisposable
{
    readonly ZadigApi api = new(fixture.Rest);
    readonly BuildDefinitions.BuildDefinitionsClient definitions = new(fixture.Channel);
    readonly BuildRuns.BuildRunsClient runs = new(fixture.Channel);
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => fixture.AssertNoErrorsLogged();

    async Task<(string Host, string Namespace, string Name)> CodeHostForAsync(GitRepository repository)
    {
        var (url, ns, name) = ZadigApi.Locate(repository);
        var host = ZadigApi.Unique("host");
        var created = await api.JsonAsync(HttpMethod.Post, "/buildgrid/v1/code-hosts", new { name = host, url, source = "gitlab" });
        Assert.True(created.Status == HttpStatusCode.OK, created.Text);
        return (host, ns, name);
    }

    static JsonArray Repo(string host, string ns, string name, string branch = "main") =>
        new(new JsonObject { ["codehost_name"] = host, ["repo_namespace"] = ns, ["repo_name"] = name, ["branch"] = branch });

    [Fact]
    public async Task A_definition_runs_from_a_bare_repository_with_inputs_masked_credentials_and_outputs()
    {
        using var repository = await GitRepository.CreateAsync("main", new Dictionary<string, string> { ["a.txt"] = "hello from the repo" });
        var (host, ns, name) = await CodeHostForAsync(repository);
        var project = ZadigApi.Unique("run");
        var parameters = new JsonArray(
            new JsonObject { ["key"] = "GREETING", ["type"] = "choice", ["choice_option"] = new JsonArray("hello", "bye"), ["default_value"] = "hello" },
            new JsonObject { ["key"] = "LIST", ["type"] = "multi-select", ["choice_option"] = new JsonArray("x", "y", "z"), ["choice_value"] = new JsonArray("x", "y"), ["default_value"] = "" },
            new JsonObject { ["key"] = "TOKEN", ["type"] = "string", ["is_credential"] = true, ["default_value"] = "s3cr3t-def-42" });
        var script = """
            cat "$REPONAME_0/a.txt"; echo
            echo "greeting=$GREETING list=$LIST token=$TOKEN svc=$SERVICE/$SERVICE_MODULE build=$BUILD_NAME project=$PROJECT"
            echo "RESULT=$GREETING-$LIST" >> "$BUILDGRID_OUTPUTS"
            """;
        var body = ZadigApi.Build(project, "app-build", script, parameters, Repo(host, ns, name),
            new JsonObject { ["timeout"] = 7, ["outputs"] = new JsonArray("RESULT") });
        (await api.PostAsync($"/openapi/build?projectKey={project}", body.ToJsonString())).AssertSuccess();

        var started = await api.JsonAsync(HttpMethod.Post, $"/buildgrid/v1/builds/app-build/runs?projectKey={project}",
            """{"service_name":"svc","service_module":"mod","inputs":{"GREETING":"bye"},"operator":"ana"}""");
        Assert.True(started.Status == HttpStatusCode.OK, started.Text);
        var id = started.Root.GetProperty("id").GetString()!;
        Assert.Equal("definition", started.Root.GetProperty("kind").GetString());
        Assert.Equal(project, started.Root.GetProperty("project").GetString());
        Assert.Equal("app-build", started.Root.GetProperty("definition").GetString());
        Assert.Equal("mod", started.Root.GetProperty("serviceModule").GetString());
        Assert.Equal(7, started.Root.GetProperty("timeoutMinutes").GetInt32());

        var done = await Runs.FinishedAsync(runs, id);
        Assert.True(done.State == RunState.Succeeded, done.FailureReason + "\n" + await Runs.LogAsync(runs, id));
        var run = await api.JsonAsync(HttpMethod.Get, $"/buildgrid/v1/runs/{id}");
        Assert.Equal("RUN_STATE_SUCCEEDED", run.Root.GetProperty("state").GetString());
        Assert.Equal("ana", run.Root.GetProperty("operator").GetString());
        Assert.Equal("bye-x,y", run.Root.GetProperty("outputs").GetProperty("RESULT").GetString());
        var checkout = run.Root.GetProperty("checkouts")[0];
        Assert.Equal(name, checkout.GetProperty("name").GetString());
        Assert.Equal(repository.Commit, checkout.GetProperty("commit").GetString());

        var log = await api.JsonAsync(HttpMethod.Get, $"/buildgrid/v1/runs/{id}/log");
        Assert.True(log.Root.GetProperty("complete").GetBoolean());
        var text = string.Join('\n', log.Root.GetProperty("lines").EnumerateArray().Select(l => l.GetProperty("text").GetString()));
        Assert.Contains("hello from the repo", text);
        Assert.Contains($"greeting=bye list=x,y token=*** svc=svc/mod build=app-build project={project}", text);
        Assert.DoesNotContain("s3cr3t-def-42", text);
        var tail = await api.JsonAsync(HttpMethod.Get, $"/buildgrid/v1/runs/{id}/log?fromLine=2&maxLines=1");
        Assert.Equal(2, Assert.Single(tail.Root.GetProperty("lines").EnumerateArray()).GetProperty("number").GetInt32());

        var history = await api.JsonAsync(HttpMethod.Get, $"/buildgrid/v1/builds/app-build/runs?projectKey={project}");
        Assert.Equal(id, Assert.Single(history.Root.GetProperty("runs").EnumerateArray()).GetProperty("id").GetString());

        // Inputs are checked against the parameters before anything is queued.
        var notAChoice = await api.JsonAsync(HttpMethod.Post, $"/buildgrid/v1/builds/app-build/runs?projectKey={project}", """{"inputs":{"GREETING":"hi"}}""");
        Assert.Equal(HttpStatusCode.BadRequest, notAChoice.Status);
        Assert.Contains("inputs.GREETING", notAChoice.Text);
        var unknown = await api.JsonAsync(HttpMethod.Post, $"/buildgrid/v1/builds/app-build/runs?projectKey={project}", """{"inputs":{"NOPE":"1"}}""");
        Assert.Equal(HttpStatusCode.BadRequest, unknown.Status);
        Assert.Contains("inputs.NOPE", unknown.Text);
        var otherService = await api.JsonAsync(HttpMethod.Post, $"/buildgrid/v1/builds/app-build/runs?projectKey={project}", """{"service_name":"zzz"}""");
        Assert.Equal(HttpStatusCode.NotFound, otherService.Status);
        Assert.Contains("BUILD_SERVICE_NOT_FOUND", otherService.Text);
        var badBody = await api.JsonAsync(HttpMethod.Post, $"/buildgrid/v1/builds/app-build/runs?projectKey={project}", """{"inputs":["x"]}""");
        Assert.Equal(HttpStatusCode.BadRequest, badBody.Status);
        var noBuild = await api.SendAsync(HttpMethod.Post, $"/buildgrid/v1/builds/none/runs?projectKey={project}");
        Assert.Equal(HttpStatusCode.NotFound, noBuild.Status);
        Assert.Contains("BUILD_DEFINITION_NOT_FOUND", noBuild.Text);
        Assert.Single((await api.JsonAsync(HttpMethod.Get, $"/buildgrid/v1/builds/app-build/runs?projectKey={project}")).Root.GetProperty("runs").EnumerateArray());

        // A bare POST (no body, no content type) runs the only service with the defaults.
        var bare = await api.SendAsync(HttpMethod.Post, $"/buildgrid/v1/builds/app-build/runs?projectKey={project}");
        Assert.True(bare.Status == HttpStatusCode.OK, bare.Text);
        var second = await Runs.FinishedAsync(runs, bare.Root.GetProperty("id").GetString()!);
        Assert.Equal("hello-x,y", second.Outputs["RESULT"]);
    }

    /// <summary>Found by the hostile campaign: both were answered 5xx (500, and 503 from an error echoing 1 MB in its trailers).</summary>
    [Fact]
    public async Task A_number_out_of_range_in_a_run_body_and_a_1MB_template_field_are_the_callers_mistake()
    {
        var outOfRange = await api.JsonAsync(HttpMethod.Post, $"/buildgrid/v1/builds/none/runs?projectKey={ZadigApi.Unique("p")}", """{"tag":1e400}""");
        Assert.Equal(HttpStatusCode.BadRequest, outOfRange.Status);

        var huge = new JsonObject { ["name"] = ZadigApi.Unique("tpl"), ["infrastructure"] = new string('A', 1 << 20), ["build_script"] = "true" };
        var answer = await api.JsonAsync(HttpMethod.Put, $"/buildgrid/v1/build-templates/{huge["name"]}", huge.ToJsonString());
        Assert.True(answer.Status is >= HttpStatusCode.BadRequest and < HttpStatusCode.InternalServerError, $"{(int)answer.Status} {answer.Text[..Math.Min(300, answer.Text.Length)]}");
        Assert.True(answer.Text.Length < 16 * 1024, "the error does not echo the 1 MB value");
    }

    [Fact]
    public async Task A_template_made_build_runs_the_templates_current_script_with_its_inputs()
    {
        using var repository = await GitRepository.CreateAsync("main", new Dictionary<string, string> { ["README"] = "x" });
        var (host, ns, name) = await CodeHostForAsync(repository);
        var templateName = ZadigApi.Unique("tpl");
        var template = new JsonObject
        {
            ["name"] = templateName, ["infrastructure"] = "vm", ["build_os"] = "ubuntu", ["script_type"] = "shell",
            ["build_script"] = "echo \"v1 $name pw=$password in $(ls)\"",
            ["parameters"] = new JsonArray(
                new JsonObject { ["key"] = "name", ["type"] = "string", ["default_value"] = "nobody" },
                new JsonObject { ["key"] = "password", ["type"] = "string", ["is_credential"] = true, ["default_value"] = "" }),
        };
        Assert.Equal(HttpStatusCode.OK, (await api.JsonAsync(HttpMethod.Post, "/buildgrid/v1/build-templates", template.ToJsonString())).Status);
        var project = ZadigApi.Unique("tplrun");
        var build = new JsonObject
        {
            ["name"] = "from-template", ["project_key"] = project, ["template_name"] = templateName,
            ["target_services"] = new JsonArray(new JsonObject
            {
                ["service_name"] = "web", ["service_module"] = "web-api", ["repo_info"] = Repo(host, ns, name),
                ["inputs"] = new JsonArray(new JsonObject { ["key"] = "name", ["value"] = "admin" }, new JsonObject { ["key"] = "password", ["value"] = "zadigx-pw-9" }),
            }),
        };
        (await api.PostAsync("/openapi/build?source=template", build.ToJsonString())).AssertSuccess();

        async Task<string> RunAsync()
        {
            var started = await definitions.StartDefinitionRunAsync(new StartDefinitionRunRequest { ProjectKey = project, Name = "from-template" }, cancellationToken: Ct);
            Assert.Equal("web-api", started.ServiceModule);
            var done = await Runs.FinishedAsync(runs, started.Id);
            var log = await Runs.LogAsync(runs, started.Id);
            Assert.True(done.State == RunState.Succeeded, log);
            Assert.DoesNotContain("zadigx-pw-9", log);
            return log;
        }

        Assert.Contains($"v1 admin pw=*** in {name}", await RunAsync());
        template["build_script"] = "echo \"v2 $name pw=$password\"";
        Assert.Equal(HttpStatusCode.OK, (await api.JsonAsync(HttpMethod.Put, $"/buildgrid/v1/build-templates/{templateName}", template.ToJsonString())).Status);
        Assert.Contains("v2 admin pw=***", await RunAsync());
    }

    [Fact]
    public async Task Over_gRPC_definitions_expand_to_runs_and_unrunnable_steps_are_refused_with_a_reason()
    {
        using var repository = await GitRepository.CreateAsync("main", new Dictionary<string, string> { ["Dockerfile"] = "FROM scratch\n" });
        var (url, ns, repoName) = ZadigApi.Locate(repository);
        var host = await definitions.CreateCodeHostAsync(new CodeHost { Name = ZadigApi.Unique("grpc-host"), Url = url }, cancellationToken: Ct);
        Assert.Equal("other", host.Source);
        var project = ZadigApi.Unique("Grpc");
        Definition Make(string name, string scriptType = "shell", string codeHost = "") => new()
        {
            Name = name, ProjectKey = project, Infrastructure = "kubernetes", BuildOs = "ubuntu", ScriptType = scriptType, BuildScript = "sleep 30",
            Services = { new ServiceWithModule { ServiceName = "api", ServiceModule = "Api-Server" } },
            RepoInfo = { new RepoInfo { CodehostName = codeHost.Length > 0 ? codeHost : host.Name, RepoNamespace = ns, RepoName = repoName, Branch = "main" } },
            Parameters = { new Parameter { Key = "PASS", Type = "string", IsCredential = true, DefaultValue = "grpc-secret-1" } },
            DockerBuildStep = new DockerBuildStep { DockerfileSource = "local", BuildContextDir = "$REPONAME_0", DockerfileDirectory = "$REPONAME_0/Dockerfile", BuildArgs = "--build-arg SVC=$SERVICE" },
        };

        var created = await definitions.CreateDefinitionAsync(new CreateDefinitionRequest { Definition = Make("docker"), Operator = "bob" }, cancellationToken: Ct);
        Assert.Equal("******", created.Parameters[0].DefaultValue);
        Assert.Equal("bob", created.UpdateBy);
        Assert.Equal("zadig", created.Source);
        var listed = await definitions.ListDefinitionsAsync(new ListDefinitionsRequest { ProjectKey = project }, cancellationToken: Ct);
        Assert.Equal(1, listed.Total);
        Assert.Equal(20, listed.PageSize);

        // The image goes under the project's namespace, named after the module; cancel kills the script.
        var run = await definitions.StartDefinitionRunAsync(new StartDefinitionRunRequest { ProjectKey = project, Name = "docker", Tag = "t1" }, cancellationToken: Ct);
        Assert.Equal($"{project.ToLowerInvariant()}/api-server:t1", run.Image);
        Assert.Equal(60, run.TimeoutMinutes);
        await Runs.WaitAsync(runs, run.Id, r => r.State == RunState.Running);
        var cancelled = await api.JsonAsync(HttpMethod.Post, $"/buildgrid/v1/runs/{run.Id}:cancel");
        Assert.True(cancelled.Status == HttpStatusCode.OK, cancelled.Text);
        Assert.Equal(RunState.Cancelled, (await Runs.FinishedAsync(runs, run.Id)).State);

        async Task<RpcException> RefusedAsync(Definition definition)
        {
            await definitions.CreateDefinitionAsync(new CreateDefinitionRequest { Definition = definition }, cancellationToken: Ct);
            return await Assert.ThrowsAsync<RpcException>(() =>
                definitions.StartDefinitionRunAsync(new StartDefinitionRunRequest { ProjectKey = project, Name = definition.Name }, cancellationToken: Ct).ResponseAsync);
        }

        var noHost = await RefusedAsync(Make("no-host", codeHost: "nowhere"));
        Assert.Equal(StatusCode.FailedPrecondition, noHost.StatusCode);
        Assert.Equal(Reasons.CodeHostNotFound, noHost.Info()?.Reason);
        var batch = await RefusedAsync(Make("batch", "batch_file"));
        Assert.Equal(Reasons.UnsupportedBuildStep, batch.Info()?.Reason);
        Assert.Contains("script_type", batch.Status.Detail);
        if (Tools.Find("pwsh") is null)
        {
            var powershell = await RefusedAsync(Make("powershell", "powershell"));
            Assert.Equal(Reasons.UnsupportedBuildStep, powershell.Info()?.Reason);
            Assert.Contains("pwsh", powershell.Status.Detail);
        }
        var template = Make("dockerfile-template");
        template.DockerBuildStep = new DockerBuildStep { DockerfileSource = "template", BuildContextDir = ".", TemplateName = "go" };
        var fromTemplate = await RefusedAsync(template);
        Assert.Equal(Reasons.UnsupportedBuildStep, fromTemplate.Info()?.Reason);
        Assert.Equal("docker_build_step.dockerfile_source", fromTemplate.Info()?.Metadata["field"]);

        var invalid = await Assert.ThrowsAsync<RpcException>(() => definitions.CreateDefinitionAsync(
            new CreateDefinitionRequest { Definition = Make("bad", "python") }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.Equal("script_type", invalid.Info()?.Metadata["field"]);
        var duplicate = await Assert.ThrowsAsync<RpcException>(() => definitions.CreateDefinitionAsync(
            new CreateDefinitionRequest { Definition = Make("docker") }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.AlreadyExists, duplicate.StatusCode);
        Assert.Equal(Reasons.BuildDefinitionAlreadyExists, duplicate.Info()?.Reason);
        var hostInUse = await definitions.DeleteCodeHostAsync(new DeleteCodeHostRequest { Name = host.Name }, cancellationToken: Ct);
        Assert.NotNull(hostInUse);
        var gone = await Assert.ThrowsAsync<RpcException>(() => definitions.GetCodeHostAsync(new GetCodeHostRequest { Name = host.Name }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(Reasons.CodeHostNotFound, gone.Info()?.Reason);
    }
}
