using BuildGrid.Standalone;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Hosting;
using BuildGrid.Core.Identity;
using BuildGrid.Gateway.Hosting;
using BuildGrid.Tests.Infrastructure;
using BuildGrid.Tests.Zadig;
using Grpc.Core;
using Grpc.Net.Client;
using StackExchange.Redis;

namespace BuildGrid.Tests.Doors;

/// <summary>
/// The doors a user never sees, tried as another local OS user (<c>runuser -u nobody</c>), a writer to Redis, a
/// neighbour who can reach a listener, or someone who captured one internal call: data files, the embedded Garnet,
/// cancel requests, Dapr event routes, service identity tokens, code-host tokens and the Identity process's key.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class InternalDoorsTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Runs a command as the unprivileged user nobody; its exit code and output.</summary>
    static Task<(int ExitCode, string Output)> AsNobodyAsync(params string[] command) =>
        Tools.RunAsync(Tools.Require("runuser", "util-linux"), "/", ["-u", "nobody", "--", .. command]);

    [Fact]
    public async Task The_data_directory_and_its_files_are_owner_only_and_another_user_reads_none_of_them()
    {
        var parent = TestDirectories.Create("doors-data");
        var dataDir = Path.Combine(parent, "data");   // new: BuildGrid creates it
        var (app, _, _) = await StandaloneFixture.StartAsync(dataDir, null, "--Builds:Workers=0");
        await using var host = new Stopping(app, parent);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(dataDir));
        var files = Directory.EnumerateFiles(dataDir, "*", SearchOption.AllDirectories).ToList();
        Assert.Contains(files, f => f.EndsWith("identity.db", StringComparison.Ordinal));
        Assert.Contains(files, f => f.EndsWith("builds.db", StringComparison.Ordinal));
        Assert.Contains(files, f => f.EndsWith(Path.Combine("garnet", "password"), StringComparison.Ordinal));
        const UnixFileMode Others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
        Assert.All(files.Concat(Directory.EnumerateDirectories(dataDir, "*", SearchOption.AllDirectories)),
            path => Assert.True((File.GetUnixFileMode(path) & Others) == 0, $"{path} is {File.GetUnixFileMode(path)}"));
        foreach (var name in new[] { "identity.db", "builds.db", Path.Combine("garnet", "password") })
        {
            var (exit, output) = await AsNobodyAsync("cat", Path.Combine(dataDir, name));
            Assert.True(exit != 0, $"nobody read {name}: {output}");
            Assert.Contains("Permission denied", output);
        }
    }

    [Fact]
    public async Task Embedded_garnet_answers_nobody_without_its_password_and_ignores_a_forged_cancel()
    {
        await using var host = await OwnedHost.StartAsync("doors-garnet", "--Builds:Workers=1");
        var garnet = host.App.Services.GetRequiredService<EmbeddedGarnet>();
        // Without the password: every command is refused (a local user can neither cancel, nor BRPOP the queue, nor fill it).
        await using (var stranger = await ConnectionMultiplexer.ConnectAsync($"{garnet.Endpoint},abortConnect=false,connectRetry=0,connectTimeout=2000"))
        {
            var refused = await Assert.ThrowsAnyAsync<Exception>(() => stranger.GetDatabase().ListRightPopAsync("buildgrid:builds:queue"));
            Assert.True(refused is RedisConnectionException or RedisServerException or RedisTimeoutException, refused.ToString());
        }

        // With the password (a leaked one, or a writer to a shared Redis): a forged cancel is still ignored.
        using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
        var runs = new BuildRuns.BuildRunsClient(channel);
        var run = await runs.StartRunAsync(new StartRunRequest { Spec = Runs.Script("sleep 30", 60) }, cancellationToken: Ct);
        await Runs.WaitAsync(runs, run.Id, r => r.State == RunState.Running);
        await using var writer = await ConnectionMultiplexer.ConnectAsync(garnet.ConnectionString);
        Assert.True(await writer.GetSubscriber().PublishAsync(RedisChannel.Literal("buildgrid:builds:cancel"), run.Id) > 0);
        await Task.Delay(2000, Ct);
        Assert.Equal(RunState.Running, (await runs.GetRunAsync(new GetRunRequest { Id = run.Id }, cancellationToken: Ct)).State);
        // The real cancel, sealed with the installation's key, still works at once.
        await runs.CancelRunAsync(new CancelRunRequest { Id = run.Id }, cancellationToken: Ct);
        Assert.Equal(RunState.Cancelled, (await Runs.FinishedAsync(runs, run.Id, 20)).State);
    }

    [Fact]
    public async Task The_identity_process_refuses_to_start_without_the_service_key_as_every_other_process_does()
    {
        var dataDir = TestDirectories.Create("doors-identity");
        try
        {
            var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => ServiceProcess.StartAsync("BuildGrid.Identity",
                new Dictionary<string, string> { ["BUILDGRID_DATA_DIR"] = dataDir, ["BUILDGRID_ADMIN_PASSWORD"] = "Adm1n-pa55word" }));
            Assert.Contains("exited before listening", failed.Message);
            Assert.Contains(IdentitySettings.ServiceKeySetting, failed.Message);
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }

    sealed class Stopping(WebApplication app, string directory) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
            TestDirectories.TryDelete(directory);
        }
    }

    sealed class Clock(TimeSpan offset) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => DateTimeOffset.UtcNow + offset;
    }

    [Fact]
    public async Task A_service_token_from_one_read_opens_no_other_method_no_other_service_and_nothing_later()
    {
        await using var host = await OwnedHost.StartAsync("doors-tokens", "--BUILDGRID_ADMIN_PASSWORD=Adm1n-pa55word",
            "--BUILDGRID_SERVICE_KEY=doors-service-key", "--Builds:Workers=0");
        var settings = IdentitySettings.From(host.App.Configuration, host.App.Services.GetRequiredService<BuildGridSettings>());
        var tokens = new ServiceTokens(settings, TimeProvider.System);
        var admin = Principal.User("admin", isAdmin: true);
        using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
        var projects = new BuildGrid.Projects.V1.Projects.ProjectsClient(channel);
        var identity = new BuildGrid.Identity.V1.Identity.IdentityClient(channel);
        const string GetProject = "/buildgrid.projects.v1.Projects/GetProject";
        Metadata With(string token) => new() { { ServiceTokens.Header, token } };

        // The captured token works for what it was made for (the project does not exist: NotFound, not Unauthenticated).
        var captured = tokens.Sign(admin, GetProject, "10.1.2.3");
        var read = await Assert.ThrowsAsync<RpcException>(() => projects.GetProjectAsync(
            new BuildGrid.Projects.V1.GetProjectRequest { Name = "missing" }, With(captured), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, read.StatusCode);

        // Replayed to a write of the same service, and to Identity's CreateUser {admin:true}: refused.
        var write = await Assert.ThrowsAsync<RpcException>(() => projects.CreateProjectAsync(
            new BuildGrid.Projects.V1.CreateProjectRequest { Name = "replayed", Cluster = "default_cluster" }, With(captured), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, write.StatusCode);
        var escalation = await Assert.ThrowsAsync<RpcException>(() => identity.CreateUserAsync(
            new BuildGrid.Identity.V1.CreateUserRequest { Name = "mallory", Password = "Mall0ry-pa55word", Admin = true }, With(captured), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, escalation.StatusCode);

        // A token for CreateUser itself, made 43 seconds ago: expired.
        var old = new ServiceTokens(settings, new Clock(TimeSpan.FromSeconds(-43))).Sign(admin, "/buildgrid.identity.v1.Identity/CreateUser", null);
        var late = await Assert.ThrowsAsync<RpcException>(() => identity.CreateUserAsync(
            new BuildGrid.Identity.V1.CreateUserRequest { Name = "mallory", Password = "Mall0ry-pa55word", Admin = true }, With(old), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, late.StatusCode);

        // A read-class token opens reads, not writes.
        var readClass = tokens.SignClass(admin, "projects", write: false, null);
        var classWrite = await Assert.ThrowsAsync<RpcException>(() => projects.CreateProjectAsync(
            new BuildGrid.Projects.V1.CreateProjectRequest { Name = "replayed", Cluster = "default_cluster" }, With(readClass), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, classWrite.StatusCode);
    }

    [Fact]
    public async Task In_dapr_mode_the_app_callback_takes_only_the_sidecar_with_its_app_token_on_its_listener()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var host = await OwnedHost.StartAsync("doors-dapr", $"--DAPR_HTTP_PORT={ServiceProcess.FreePort()}", "--APP_API_TOKEN=sidecar-app-token",
            $"--BUILDGRID_REDIS={redis.ConnectionString}", "--Builds:Workers=0");
        var onTopicEvent = new Method<Dapr.AppCallback.Autogen.Grpc.v1.TopicEventRequest, Dapr.AppCallback.Autogen.Grpc.v1.TopicEventResponse>(
            MethodType.Unary, "dapr.proto.runtime.v1.AppCallback", "OnTopicEvent",
            Marshallers.Create(m => Google.Protobuf.MessageExtensions.ToByteArray(m), Dapr.AppCallback.Autogen.Grpc.v1.TopicEventRequest.Parser.ParseFrom),
            Marshallers.Create(m => Google.Protobuf.MessageExtensions.ToByteArray(m), Dapr.AppCallback.Autogen.Grpc.v1.TopicEventResponse.Parser.ParseFrom));
        using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
        async Task<string> DeliverAsync(string? token)
        {
            var forged = new Dapr.AppCallback.Autogen.Grpc.v1.TopicEventRequest
            {
                Id = Guid.NewGuid().ToString(), Source = "/forged", Type = "buildgrid.events.v1.AuditRecorded", SpecVersion = "1.0",
                DataContentType = "application/json", Topic = "buildgrid.audit.recorded", PubsubName = "buildgrid-pubsub",
                Data = Google.Protobuf.ByteString.CopyFromUtf8(new JsonObject { ["principal"] = "forged", ["service"] = "projects", ["action"] = "DeleteProject" }.ToJsonString()),
            };
            var headers = new Metadata();
            if (token is not null)
                headers.Add("dapr-api-token", token);
            try
            {
                var answer = await channel.CreateCallInvoker().AsyncUnaryCall(onTopicEvent, null, new CallOptions(headers, cancellationToken: Ct), forged);
                return answer.Status.ToString();
            }
            catch (RpcException e)
            {
                return e.StatusCode.ToString();
            }
        }
        Assert.Equal(nameof(StatusCode.Unauthenticated), await DeliverAsync(null));
        Assert.Equal(nameof(StatusCode.Unauthenticated), await DeliverAsync("guessed"));
        Assert.Equal("Success", await DeliverAsync("sidecar-app-token"));
        // The HTTP topic routes are gone on both listeners (every app is declared app-protocol grpc).
        foreach (var (listener, version) in new[] { (host.RestUrl, HttpVersion.Version11), (host.GrpcUrl, HttpVersion.Version20) })
        {
            using var http = new HttpClient { BaseAddress = listener };
            using var request = new HttpRequestMessage(HttpMethod.Post, "/events/buildgrid.audit.recorded")
            {
                Version = version, VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = new StringContent("{}", Encoding.UTF8, new MediaTypeHeaderValue("application/cloudevents+json")),
            };
            request.Headers.Add("dapr-api-token", "sidecar-app-token");
            using var response = await http.SendAsync(request, Ct);
            Assert.NotEqual(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Fact]
    public async Task A_code_host_token_never_shows_in_answers_logs_failure_reasons_or_any_process_arguments_and_environment()
    {
        using var repository = await GitRepository.CreateAsync("main", new Dictionary<string, string> { ["a.txt"] = "over http" });
        var bare = repository.Url["file://".Length..];
        var token = "glpat-" + Guid.NewGuid().ToString("N");
        await using var git = await GitHttpServer.StartAsync(Path.GetDirectoryName(Path.GetDirectoryName(bare)!)!, "oauth2", token);
        await using var host = await OwnedHost.StartAsync("doors-codehost", "--Builds:Workers=1");
        using var rest = new HttpClient { BaseAddress = host.RestUrl };
        var api = new ZadigApi(rest);
        var ns = Path.GetFileName(Path.GetDirectoryName(bare)!);
        var withToken = $"http://oauth2:{token}@{git.Url.Authority}";

        // Given in the URL, as users do: stored apart, never answered.
        var created = await api.JsonAsync(HttpMethod.Post, "/buildgrid/v1/code-hosts", new { name = "doors-http", url = withToken, source = "gitlab" });
        Assert.True(created.Status == HttpStatusCode.OK, created.Text);
        var shown = await api.JsonAsync(HttpMethod.Get, "/buildgrid/v1/code-hosts/doors-http");
        var listed = await api.JsonAsync(HttpMethod.Get, "/buildgrid/v1/code-hosts");
        foreach (var answer in new[] { created.Text, shown.Text, listed.Text })
            Assert.DoesNotContain(token, answer);
        Assert.True(shown.Root.GetProperty("has_token").GetBoolean(), shown.Text);
        Assert.Equal($"http://{git.Url.Authority}", shown.Root.GetProperty("url").GetString());
        // A code host whose token is wrong, to see the failure.
        var wrong = await api.JsonAsync(HttpMethod.Post, "/buildgrid/v1/code-hosts", new { name = "doors-wrong", url = $"http://{git.Url.Authority}", token = token + "x" });
        Assert.True(wrong.Status == HttpStatusCode.OK, wrong.Text);

        using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
        var runs = new BuildRuns.BuildRunsClient(channel);
        async Task<(Run Run, string Log)> RunAsync(string codeHost)
        {
            var project = ZadigApi.Unique("doors");
            var repos = new JsonArray(new JsonObject { ["codehost_name"] = codeHost, ["repo_namespace"] = ns, ["repo_name"] = "app.git", ["branch"] = "main" });
            (await api.PostAsync($"/openapi/build?projectKey={project}", ZadigApi.Build(project, "b", "cat app/a.txt; git -C app remote -v", null, repos).ToJsonString())).AssertSuccess();
            var started = await api.JsonAsync(HttpMethod.Post, $"/buildgrid/v1/builds/b/runs?projectKey={project}", "{}");
            Assert.True(started.Status == HttpStatusCode.OK, started.Text);
            var run = await Runs.FinishedAsync(runs, started.Root.GetProperty("id").GetString()!);
            return (run, await Runs.LogAsync(runs, run.Id));
        }

        var (good, goodLog) = await RunAsync("doors-http");
        Assert.True(good.State == RunState.Succeeded, good.FailureReason + "\n" + goodLog);
        Assert.Contains("over http", goodLog);
        Assert.Contains($"git clone http://{git.Url.Authority}/{ns}/app.git", goodLog);
        Assert.DoesNotContain(token, goodLog);
        Assert.True(git.Served > 0);

        var (bad, badLog) = await RunAsync("doors-wrong");
        Assert.Equal(RunState.Failed, bad.State);
        Assert.Contains("checkout of", bad.FailureReason);
        Assert.NotEmpty(git.Refused);
        Assert.DoesNotContain(token, bad.FailureReason + badLog);

        // While git talked to the server, no process had the token in its arguments or environment (read as root:
        // stricter than what another user could read), and nothing of it is left in the data directory's askpass folder.
        Assert.Empty(git.SecretSeenIn);
        var askpass = Path.Combine(host.DataDir, "builds", "askpass");
        Assert.Empty(Directory.Exists(askpass) ? Directory.EnumerateFileSystemEntries(askpass) : []);
        var (exit, stored) = await AsNobodyAsync("grep", "-r", token, host.DataDir);
        Assert.True(exit != 0 && !stored.Contains(token, StringComparison.Ordinal), stored);
        var (_, asRoot) = await Tools.RunAsync("grep", "/", "-rl", token, host.DataDir);
        Assert.True(asRoot.Trim().Length == 0, "the token is stored in clear in: " + asRoot);
    }
}
