using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Clients;
using BuildGrid.Core.Events;
using BuildGrid.Core.Hosting;
using BuildGrid.Core.Identity;
using BuildGrid.Events.V1;
using BuildGrid.Projects.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Cv1 = BuildGrid.Containers.V1;

namespace BuildGrid.Tests.Identity;

/// <summary>
/// One host with an admin password and a service key, so that no call without credentials is the admin. Role holders
/// call with the installation's real internal credential: a principal signed with BUILDGRID_SERVICE_KEY in
/// <c>x-buildgrid-identity</c>, as another BuildGrid process (or the Identity service's gateway) sends it.
/// </summary>
public sealed class GuardedHost : IAsyncLifetime
{
    public const string Password = "Adm1n-pa55word";
    OwnedHost? host;
    GrpcChannel? channel;
    CallInvoker? invoker;
    ServiceTokens? tokens;

    public OwnedHost Host => host!;
    /// <summary>The host's gRPC listener, signing the identity of calls made with <see cref="As"/> as a BuildGrid process does.</summary>
    public CallInvoker Channel => invoker!;

    public async ValueTask InitializeAsync()
    {
        host = await OwnedHost.StartAsync("guarded-access", $"--BUILDGRID_ADMIN_PASSWORD={Password}",
            "--BUILDGRID_SERVICE_KEY=access-tests-service-key", "--Builds:Workers=0");
        channel = GrpcChannel.ForAddress(host.GrpcUrl);
        // The key as every process of the installation derives it from its BUILDGRID_SERVICE_KEY setting.
        tokens = new ServiceTokens(IdentitySettings.From(host.App.Configuration, host.App.Services.GetRequiredService<BuildGridSettings>()),
            TimeProvider.System);
        invoker = channel.Intercept(new ServiceIdentityInterceptor(tokens));
    }

    public async ValueTask DisposeAsync()
    {
        channel?.Dispose();
        if (host is not null)
            await host.DisposeAsync();
    }

    /// <summary>A token for any write (and so any read) of the REST facades: what a caller that cannot name the gRPC method signs.</summary>
    public string Token(Principal principal) => tokens!.SignClass(principal, "gateway", write: true, clientAddress: null);

    public static Principal User(string name, string @namespace, Role role) =>
        Principal.User(name, isAdmin: false, new Dictionary<string, Role> { [@namespace] = role });

    public Metadata As(Principal principal) => Caller.OnBehalfOf(new Metadata(), principal, clientAddress: null);

    public static Metadata Admin => new() { { "authorization", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{Password}")) } };

    public HttpClient Http(Principal? principal = null) =>
        principal is null
            ? new HttpClient { BaseAddress = Host.RestUrl }
            : new HttpClient(new Signing(() => Token(principal)) { InnerHandler = new SocketsHttpHandler() }) { BaseAddress = Host.RestUrl };

    /// <summary>Signs each request afresh: a token lives seconds, longer than no single request, shorter than some tests.</summary>
    sealed class Signing(Func<string> token) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.Remove(ServiceTokens.Header);
            request.Headers.Add(ServiceTokens.Header, token());
            return base.SendAsync(request, cancellationToken);
        }
    }
}

public sealed class AccessTests(GuardedHost guarded) : IClassFixture<GuardedHost>
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    BuildGrid.Projects.V1.Projects.ProjectsClient Projects => new(guarded.Channel);

    static string Unique(string prefix) => $"{prefix}{Guid.NewGuid().ToString("N")[..10]}";

    [Fact]
    public async Task Roles_in_a_cluster_decide_who_reads_creates_and_deletes_its_projects()
    {
        var cluster = Unique("team");
        var guest = GuardedHost.User("gina", cluster, Role.Guest);
        var developer = GuardedHost.User("dev", cluster, Role.Developer);
        var owner = GuardedHost.User("olga", cluster, Role.Owner);
        var stranger = GuardedHost.User("sam", Unique("elsewhere"), Role.Owner);
        var name = Unique("app");

        var denied = await Assert.ThrowsAsync<RpcException>(() => Projects.CreateProjectAsync(
            new CreateProjectRequest { Name = name, Cluster = cluster }, guarded.As(guest), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);

        // The body's operator is not the developer's to choose: the write records who made it.
        var created = await Projects.CreateProjectAsync(new CreateProjectRequest { Name = name, Cluster = cluster, Operator = "mallory" },
            guarded.As(developer), cancellationToken: Ct);
        Assert.Equal("dev", created.Creator);
        Assert.Equal("dev", created.UpdateOperator);

        Assert.Equal(name, (await Projects.GetProjectAsync(new GetProjectRequest { Name = name }, guarded.As(guest), cancellationToken: Ct)).Name);
        var hidden = await Assert.ThrowsAsync<RpcException>(() => Projects.GetProjectAsync(
            new GetProjectRequest { Name = name }, guarded.As(stranger), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, hidden.StatusCode);   // a stranger learns nothing, not even that it exists

        // Lists show only readable clusters.
        var guestList = await Projects.ListProjectsAsync(new ListProjectsRequest { PageSize = 100 }, guarded.As(guest), cancellationToken: Ct);
        Assert.Equal([name], guestList.Projects.Select(p => p.Name));
        Assert.Equal(1, guestList.TotalCount);
        var strangerList = await Projects.ListProjectsAsync(new ListProjectsRequest { NameContains = name }, guarded.As(stranger), cancellationToken: Ct);
        Assert.Empty(strangerList.Projects);
        Assert.Equal(0, strangerList.TotalCount);
        var adminList = await Projects.ListProjectsAsync(new ListProjectsRequest { NameContains = name }, GuardedHost.Admin, cancellationToken: Ct);
        Assert.Equal([name], adminList.Projects.Select(p => p.Name));

        var save = await Projects.SaveProjectAsync(new SaveProjectRequest
        {
            Name = name, Mode = SaveProjectRequest.Types.Mode.Update, DockerfileType = DockerfileType.Define, Dockerfile = "FROM scratch\n", Operator = "mallory",
        }, guarded.As(developer), cancellationToken: Ct);
        Assert.Equal("dev", save.UpdateOperator);
        var guestSave = await Assert.ThrowsAsync<RpcException>(() => Projects.SaveProjectAsync(new SaveProjectRequest
        {
            Name = name, Mode = SaveProjectRequest.Types.Mode.Update, DockerfileType = DockerfileType.Define, Dockerfile = "FROM busybox\n",
        }, guarded.As(guest), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, guestSave.StatusCode);
        Assert.Equal("FROM scratch\n", (await Projects.GetProjectAsync(new GetProjectRequest { Name = name }, guarded.As(guest), cancellationToken: Ct)).Dockerfile);

        var developerDelete = await Assert.ThrowsAsync<RpcException>(() => Projects.DeleteProjectAsync(
            new DeleteProjectRequest { Name = name }, guarded.As(developer), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, developerDelete.StatusCode);
        await Projects.DeleteProjectAsync(new DeleteProjectRequest { Name = name }, guarded.As(owner), cancellationToken: Ct);
        var gone = await Assert.ThrowsAsync<RpcException>(() => Projects.GetProjectAsync(
            new GetProjectRequest { Name = name }, GuardedHost.Admin, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task A_build_of_a_project_runs_in_its_cluster_and_records_the_caller_as_operator()
    {
        var cluster = Unique("builds");
        var name = Unique("img");
        var developer = GuardedHost.User("devon", cluster, Role.Developer);
        var guest = GuardedHost.User("gus", cluster, Role.Guest);
        var stranger = GuardedHost.User("stan", Unique("other"), Role.Owner);
        await Projects.SaveProjectAsync(new SaveProjectRequest
        {
            Name = name, Cluster = cluster, Mode = SaveProjectRequest.Types.Mode.Add, DockerfileType = DockerfileType.Define, Dockerfile = "FROM scratch\n",
        }, GuardedHost.Admin, cancellationToken: Ct);
        var runs = new BuildRuns.BuildRunsClient(guarded.Channel);

        var guestBuild = await Assert.ThrowsAsync<RpcException>(() => runs.StartProjectBuildAsync(
            new StartProjectBuildRequest { Project = name, Tag = "1" }, guarded.As(guest), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, guestBuild.StatusCode);

        var run = await runs.StartProjectBuildAsync(new StartProjectBuildRequest { Project = name, Tag = "1", Operator = "mallory" },
            guarded.As(developer), cancellationToken: Ct);
        Assert.Equal("devon", run.Operator);
        Assert.Equal(cluster, run.Namespace);

        Assert.Equal(run.Id, (await runs.GetRunAsync(new GetRunRequest { Id = run.Id }, guarded.As(guest), cancellationToken: Ct)).Id);
        var hidden = await Assert.ThrowsAsync<RpcException>(() => runs.GetRunAsync(new GetRunRequest { Id = run.Id }, guarded.As(stranger), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, hidden.StatusCode);
        Assert.Empty((await runs.ListRunsAsync(new ListRunsRequest { Project = name }, guarded.As(stranger), cancellationToken: Ct)).Runs);
        Assert.Equal([run.Id], (await runs.ListRunsAsync(new ListRunsRequest { Project = name }, guarded.As(guest), cancellationToken: Ct)).Runs.Select(r => r.Id));

        var guestCancel = await Assert.ThrowsAsync<RpcException>(() => runs.CancelRunAsync(new CancelRunRequest { Id = run.Id }, guarded.As(guest), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, guestCancel.StatusCode);
        Assert.Equal(RunState.Cancelled, (await runs.CancelRunAsync(new CancelRunRequest { Id = run.Id }, guarded.As(developer), cancellationToken: Ct)).State);

        // A raw spec runs any script on a worker: administrators only.
        var spec = await Assert.ThrowsAsync<RpcException>(() => runs.StartRunAsync(new StartRunRequest { Spec = new RunSpec { Script = "true" } },
            guarded.As(GuardedHost.User("devon", cluster, Role.Owner)), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, spec.StatusCode);
    }

    [Fact]
    public async Task Svacer_containers_are_read_by_anyone_signed_in_and_written_by_developers_of_the_default_cluster()
    {
        var containers = new Cv1.Containers.ContainersClient(guarded.Channel);
        var reader = GuardedHost.User("rita", Unique("unrelated"), Role.Owner);
        var developer = GuardedHost.User("dora", "default_cluster", Role.Developer);
        var name = Unique("svc");

        var denied = await Assert.ThrowsAsync<RpcException>(() => containers.CreateProjectAsync(
            new Cv1.CreateProjectRequest { Name = name }, guarded.As(reader), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        var project = await containers.CreateProjectAsync(new Cv1.CreateProjectRequest { Name = name }, guarded.As(developer), cancellationToken: Ct);
        Assert.Equal(name, (await containers.GetProjectAsync(new Cv1.GetProjectRequest { Id = project.Id }, guarded.As(reader), cancellationToken: Ct)).Name);

        var anonymous = await Assert.ThrowsAsync<RpcException>(() => containers.GetProjectAsync(
            new Cv1.GetProjectRequest { Id = project.Id }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, anonymous.StatusCode);

        var delete = await Assert.ThrowsAsync<RpcException>(() => containers.DeleteProjectAsync(
            new Cv1.DeleteProjectRequest { Id = project.Id }, guarded.As(developer), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, delete.StatusCode);
        await containers.DeleteProjectAsync(new Cv1.DeleteProjectRequest { Id = project.Id }, GuardedHost.Admin, cancellationToken: Ct);
    }

    [Fact]
    public async Task Zadig_definitions_live_in_their_project_key_and_templates_are_written_by_administrators()
    {
        var key = Unique("zp");
        var definitions = new BuildDefinitions.BuildDefinitionsClient(guarded.Channel);
        var guest = GuardedHost.User("gale", key, Role.Guest);
        var listed = await definitions.ListDefinitionsAsync(new ListDefinitionsRequest { ProjectKey = key }, guarded.As(guest), cancellationToken: Ct);
        Assert.Empty(listed.Definitions);
        var stranger = await Assert.ThrowsAsync<RpcException>(() => definitions.ListDefinitionsAsync(
            new ListDefinitionsRequest { ProjectKey = key }, guarded.As(GuardedHost.User("x", Unique("y"), Role.Owner)), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, stranger.StatusCode);
        var template = await Assert.ThrowsAsync<RpcException>(() => definitions.DeleteTemplateAsync(
            new DeleteTemplateRequest { Name = "anything" }, guarded.As(GuardedHost.User("o", key, Role.Owner)), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, template.StatusCode);
        var hosts = await Assert.ThrowsAsync<RpcException>(() => definitions.ListCodeHostsAsync(
            new ListCodeHostsRequest(), guarded.As(GuardedHost.User("o", key, Role.Owner)), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, hosts.StatusCode);
    }

    // ---- the REST dialects: 401 with a challenge, 403, each in its own error format ----

    // Harbor and Quay reads of public repositories are open to anonymous callers (Registry/RegistryAuthTests checks what
    // they may see); their writes need credentials.
    public static TheoryData<string, string, string?> AnonymousCalls => new()
    {
        { "imagemarket", "/api/project/list", null },
        { "harbor", "/repositories", """{"method":"DELETE","repoName":"1.0","projectName":"default_cluster/shop"}""" },
        { "svacer", "/api/public/admin/server/containers", """{"action":"list"}""" },
        { "zadig", "/openapi/build?projectKey=yaml", null },
        { "quay", "/api/v1/repository", """{"repository":"anon","visibility":"public","namespace":"default_cluster","description":""}""" },
        { "rest", "/buildgrid/v1/build-templates", null },
    };

    [Theory]
    [MemberData(nameof(AnonymousCalls))]
    public async Task A_caller_without_credentials_gets_401_with_a_challenge_in_the_dialects_format(string dialect, string path, string? body)
    {
        using var http = guarded.Http();
        using var response = body is null ? await http.GetAsync(path, Ct)
            : await http.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Basic realm=\"BuildGrid\", Bearer", string.Join(", ", response.Headers.WwwAuthenticate.Select(h => h.ToString())));
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        var root = json.RootElement;
        switch (dialect)
        {
            case "imagemarket":
                Assert.Equal(10401, root.GetProperty("code").GetInt32());
                Assert.Equal(-1, root.GetProperty("content").GetInt32());
                break;
            case "harbor":
                Assert.Equal(401, root.GetProperty("code").GetInt32());
                Assert.False(string.IsNullOrEmpty(root.GetProperty("msg").GetString()));
                break;
            case "svacer":
                Assert.Equal("UNAUTHENTICATED", root.GetProperty("reason").GetString());
                break;
            case "zadig":
                Assert.Equal(401, root.GetProperty("code").GetInt32());
                Assert.Equal("Unauthorized", root.GetProperty("message").GetString());
                break;
            case "quay":
                Assert.Equal(401, root.GetProperty("status").GetInt32());
                Assert.Equal("invalid_token", root.GetProperty("error_type").GetString());
                break;
            default:
                Assert.Equal((int)StatusCode.Unauthenticated, root.GetProperty("code").GetInt32());
                break;
        }
    }

    [Fact]
    public async Task A_caller_without_the_role_gets_403_in_the_dialects_format_and_nothing_is_written()
    {
        var cluster = Unique("rest");
        var name = Unique("web");
        using (var guest = guarded.Http(GuardedHost.User("gwen", cluster, Role.Guest)))
        {
            using var response = await guest.PostAsync("/api/project/new",
                new StringContent($$"""{"projectName":"{{name}}","Cluster":"{{cluster}}"}""", Encoding.UTF8, "application/json"), Ct);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal(10403, json.RootElement.GetProperty("code").GetInt32());
            Assert.Contains("developer", json.RootElement.GetProperty("errMsg").GetString(), StringComparison.Ordinal);
        }
        using (var stranger = guarded.Http(GuardedHost.User("zed", Unique("x"), Role.Owner)))
        {
            using var response = await stranger.GetAsync($"/openapi/build?projectKey={cluster}", Ct);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal(403, json.RootElement.GetProperty("code").GetInt32());
            Assert.Equal("PERMISSION_DENIED", json.RootElement.GetProperty("extra").GetProperty("reason").GetString());

            var containers = new Cv1.Containers.ContainersClient(guarded.Channel);
            var project = await containers.CreateProjectAsync(new Cv1.CreateProjectRequest { Name = name }, GuardedHost.Admin, cancellationToken: Ct);
            var group = await containers.CreateProjectGroupAsync(new Cv1.CreateProjectGroupRequest { Name = name }, GuardedHost.Admin, cancellationToken: Ct);
            using var add = await stranger.PostAsync("/api/public/admin/server/project-groups", new StringContent(
                $$"""{"action":"add-project-to-group","project_name_or_id":"{{project.Id}}","project_group_name_or_id":"{{group.Id}}"}""", Encoding.UTF8, "application/json"), Ct);
            Assert.Equal(HttpStatusCode.Forbidden, add.StatusCode);
            using var json2 = JsonDocument.Parse(await add.Content.ReadAsStringAsync(Ct));
            Assert.Equal("PERMISSION_DENIED", json2.RootElement.GetProperty("reason").GetString());
            var members = await containers.ListProjectsAsync(new Cv1.ListProjectsRequest { ProjectGroupId = group.Id }, GuardedHost.Admin, cancellationToken: Ct);
            Assert.Empty(members.Projects);
        }
        var missing = await Assert.ThrowsAsync<RpcException>(() => Projects.GetProjectAsync(new GetProjectRequest { Name = name }, GuardedHost.Admin, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task The_image_market_operator_in_the_body_does_not_override_the_authenticated_user()
    {
        var cluster = Unique("ops");
        var name = Unique("site");
        using var developer = guarded.Http(GuardedHost.User("alice", cluster, Role.Developer));
        using var response = await developer.PostAsync("/api/project/new",
            new StringContent($$"""{"projectName":"{{name}}","Cluster":"{{cluster}}","operator":"mallory"}""", Encoding.UTF8, "application/json"), Ct);
        Assert.Contains("\"code\":10000", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        using var info = await developer.GetAsync($"/api/project/info?projectName={name}", Ct);
        using var json = JsonDocument.Parse(await info.Content.ReadAsStringAsync(Ct));
        var content = json.RootElement.GetProperty("content");
        Assert.Equal("alice", content.GetProperty("creator").GetString());
        Assert.Equal("alice", content.GetProperty("lastModifyOperator").GetString());
    }

    // ---- audit ----

    [Fact]
    public async Task A_write_publishes_one_audit_record_naming_the_authenticated_principal()
    {
        var cluster = Unique("audit");
        var first = Unique("a1");
        var second = Unique("a2");
        var records = new ConcurrentQueue<AuditRecorded>();
        var bus = guarded.Host.App.Services.GetRequiredService<InProcessEventBus>();
        using var subscription = bus.Subscribe("buildgrid.audit.recorded", (cloudEvent, _) =>
        {
            records.Enqueue(AuditRecorded.Parser.WithDiscardUnknownFields(true).ParseJson(cloudEvent.Data));
            return Task.CompletedTask;
        });
        var developer = GuardedHost.User("audrey", cluster, Role.Developer);
        var metadata = guarded.As(developer);
        metadata.Add("x-request-id", "req-" + first);
        await Projects.CreateProjectAsync(new CreateProjectRequest { Name = first, Cluster = cluster, Operator = "mallory" }, metadata, cancellationToken: Ct);
        // Reads and refused writes are not audited.
        await Projects.GetProjectAsync(new GetProjectRequest { Name = first }, guarded.As(developer), cancellationToken: Ct);
        await Assert.ThrowsAsync<RpcException>(() => Projects.DeleteProjectAsync(new DeleteProjectRequest { Name = first }, guarded.As(developer), cancellationToken: Ct).ResponseAsync);
        // Events of one outbox are published in order: once the second write's record is here, a duplicate of the first would be too.
        await Projects.CreateProjectAsync(new CreateProjectRequest { Name = second, Cluster = cluster }, guarded.As(developer), cancellationToken: Ct);
        await Eventually.Async(() => records.Count(r => r.Resource == second), n => n == 1);

        var mine = records.Where(r => r.Namespace == cluster).ToList();
        Assert.Equal([first, second], mine.Select(r => r.Resource));
        var record = mine[0];
        Assert.Equal("audrey", record.Principal);
        Assert.Equal("user", record.PrincipalKind);
        Assert.Equal("projects", record.Service);
        Assert.Equal("/buildgrid.projects.v1.Projects/CreateProject", record.Action);
        Assert.Equal("127.0.0.1", record.RemoteIp);
        Assert.Equal("req-" + first, record.RequestId);
        Assert.False(string.IsNullOrEmpty(record.Id));
    }

    [Fact]
    public async Task A_REST_write_is_audited_once_by_the_service_that_made_it_with_the_clients_address()
    {
        var cluster = Unique("restaudit");
        var name = Unique("r");
        var records = new ConcurrentQueue<AuditRecorded>();
        using var subscription = guarded.Host.App.Services.GetRequiredService<InProcessEventBus>().Subscribe("buildgrid.audit.recorded", (cloudEvent, _) =>
        {
            records.Enqueue(AuditRecorded.Parser.WithDiscardUnknownFields(true).ParseJson(cloudEvent.Data));
            return Task.CompletedTask;
        });
        using var http = guarded.Http();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{GuardedHost.Password}")));
        using var response = await http.PostAsync("/api/project/new",
            new StringContent($$"""{"projectName":"{{name}}","Cluster":"{{cluster}}"}""", Encoding.UTF8, "application/json"), Ct);
        Assert.Contains("\"code\":10000", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        var record = await Eventually.Async(() => records.FirstOrDefault(r => r.Resource == name), r => r is not null);
        Assert.Equal("admin", record!.Principal);
        Assert.Equal("projects", record.Service);
        Assert.Equal(cluster, record.Namespace);
        Assert.Equal("127.0.0.1", record.RemoteIp);
        Assert.False(string.IsNullOrEmpty(record.RequestId));
        Assert.Single(records, r => r.Resource == name);
    }

    // ---- limits ----

    public static TheoryData<string, string> OversizeBodies => new()
    {
        { "imagemarket", "/api/project/new" },
        { "svacer", "/api/public/admin/server/containers" },
        { "zadig", "/openapi/build" },
        { "quay", "/api/v1/repository" },
        { "harbor", "/repositories/tags" },
    };

    [Theory]
    [MemberData(nameof(OversizeBodies))]
    public async Task A_body_over_the_limit_is_refused_with_413_in_the_dialects_format(string dialect, string path)
    {
        using var http = guarded.Http(GuardedHost.User("big", "default_cluster", Role.Owner));
        var body = "{\"projectName\":\"" + new string('a', 5 * 1024 * 1024) + "\"}";
        using var response = await http.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        var root = json.RootElement;
        switch (dialect)
        {
            case "imagemarket": Assert.Equal(10413, root.GetProperty("code").GetInt32()); break;
            case "svacer": Assert.Equal("PAYLOAD_TOO_LARGE", root.GetProperty("reason").GetString()); break;
            case "zadig": Assert.Equal(413, root.GetProperty("code").GetInt32()); break;
            case "quay": Assert.Equal(413, root.GetProperty("status").GetInt32()); break;
            default: Assert.Equal(413, root.GetProperty("code").GetInt32()); break;
        }
    }

    [Fact]
    public async Task A_chunked_body_over_the_limit_is_refused_with_413_too()
    {
        using var http = guarded.Http(GuardedHost.User("big", "default_cluster", Role.Owner));
        var bytes = Encoding.UTF8.GetBytes("{\"projectName\":\"" + new string('a', 5 * 1024 * 1024) + "\"}");
        using var content = new StreamContent(new MemoryStream(bytes));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/project/new") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var response = await http.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal(10413, json.RootElement.GetProperty("code").GetInt32());
    }

    [Fact]
    public async Task Headers_too_large_or_too_many_are_refused_with_431()
    {
        using var http = guarded.Http();
        using var big = new HttpRequestMessage(HttpMethod.Get, "/api/project/list");
        big.Headers.Add("x-padding", new string('p', 40 * 1024));
        using var bigResponse = await http.SendAsync(big, Ct);
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, bigResponse.StatusCode);

        using var many = new HttpRequestMessage(HttpMethod.Get, "/api/project/list");
        for (var i = 0; i < 120; i++)
            many.Headers.Add($"x-h{i}", "v");
        using var manyResponse = await http.SendAsync(many, Ct);
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, manyResponse.StatusCode);

        // An ordinary request on a new connection is served as before.
        using var fresh = guarded.Http();
        using var ok = await fresh.GetAsync("/api/project/list", Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, ok.StatusCode);
    }
}
