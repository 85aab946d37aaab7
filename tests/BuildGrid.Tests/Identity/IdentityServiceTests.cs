using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using BuildGrid.Core.Events;
using BuildGrid.Events.V1;
using BuildGrid.Identity.V1;
using BuildGrid.Tests.Infrastructure;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using IdentityClient = BuildGrid.Identity.V1.Identity.IdentityClient;

namespace BuildGrid.Tests.Identity;

/// <summary>A standalone host with an admin password: the Identity service judges every credential.</summary>
public sealed class GuardedHostFixture : IAsyncLifetime
{
    public const string AdminPassword = "Adm1n-s3cret-for-tests";
    public OwnedHost Host { get; private set; } = null!;
    public GrpcChannel Channel { get; private set; } = null!;
    public IdentityClient Identity { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Host = await OwnedHost.StartAsync("identity", $"--BUILDGRID_ADMIN_PASSWORD={AdminPassword}");
        Channel = GrpcChannel.ForAddress(Host.GrpcUrl);
        Identity = new IdentityClient(Channel);
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await Host.DisposeAsync();
    }
}

/// <summary>
/// The Identity service through its real interfaces: gRPC, BuildGrid's REST routes and Quay's, on a host with an admin
/// password. Credentials are checked through Core's IdentityCredentialValidator, which trusts an answer for at most 5 s:
/// effects of revocations and role changes are awaited with <see cref="Eventually"/>.
/// </summary>
public sealed class IdentityServiceTests(GuardedHostFixture fixture) : IClassFixture<GuardedHostFixture>
{
    static int counter;
    static string Unique(string prefix) => $"{prefix}{Environment.ProcessId % 1000}x{Interlocked.Increment(ref counter)}";
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static string BasicValue(string user, string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));
    static Metadata Basic(string user, string password) => new() { { "authorization", BasicValue(user, password) } };
    static Metadata Bearer(string token) => new() { { "authorization", "Bearer " + token } };
    static Metadata Admin => Basic("admin", GuardedHostFixture.AdminPassword);

    IdentityClient Identity => fixture.Identity;

    HttpClient Http(string? authorization)
    {
        var http = new HttpClient { BaseAddress = fixture.Host.RestUrl };
        if (authorization is not null)
            http.DefaultRequestHeaders.Authorization = AuthenticationHeaderValue.Parse(authorization);
        return http;
    }

    async Task<string> CreateUserAsync(string password, bool admin = false)
    {
        var name = Unique("user");
        await Identity.CreateUserAsync(new CreateUserRequest { Name = name, Password = password, Admin = admin, Email = $"{name}@example.com" }, Admin, cancellationToken: Ct);
        return name;
    }

    static async Task<StatusCode> StatusOf(Func<Task> call)
    {
        try
        {
            await call();
            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    /// <summary>Polls a call until it answers <paramref name="expected"/> (a credential cache entry lives at most 5 s).</summary>
    static async Task Until(StatusCode expected, Func<Task> call)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        StatusCode last;
        while ((last = await StatusOf(call)) != expected)
        {
            Assert.True(DateTime.UtcNow < deadline, $"still {last}, expected {expected}");
            await Task.Delay(200, Ct);
        }
    }

    [Fact]
    public async Task Quays_superuser_routes_create_list_and_delete_users_for_admins_only()
    {
        var name = Unique("quayuser");
        using var admin = Http(BasicValue("admin", GuardedHostFixture.AdminPassword));
        using var created = await admin.PostAsync("/api/v1/superuser/users/",
            new StringContent($$"""{"username":"{{name}}","email":"{{name}}@example.com"}""", Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        string password;
        using (var json = JsonDocument.Parse(await created.Content.ReadAsStringAsync(Ct)))
        {
            Assert.Equal(name, json.RootElement.GetProperty("username").GetString());
            password = json.RootElement.GetProperty("password").GetString()!; // generated, answered once, as Quay does
        }
        Assert.True(password.Length >= 8, password);

        // The generated password works; the new user is no superuser and may not list or delete users.
        using var user = Http(BasicValue(name, password));
        using (var me = await user.GetAsync("/api/v1/user/", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, me.StatusCode);
            using var json = JsonDocument.Parse(await me.Content.ReadAsStringAsync(Ct));
            Assert.False(json.RootElement.GetProperty("super_user").GetBoolean());
        }
        using (var denied = await user.GetAsync("/api/v1/superuser/users/", Ct))
            Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        using (var denied = await user.DeleteAsync($"/api/v1/superuser/users/{name}", Ct))
            Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);

        using (var list = await admin.GetAsync("/api/v1/superuser/users/", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
            using var json = JsonDocument.Parse(await list.Content.ReadAsStringAsync(Ct));
            var users = json.RootElement.GetProperty("users").EnumerateArray().ToList();
            Assert.Contains(users, u => u.GetProperty("username").GetString() == name && !u.GetProperty("super_user").GetBoolean());
            Assert.Contains(users, u => u.GetProperty("username").GetString() == "admin" && u.GetProperty("super_user").GetBoolean());
        }

        using (var deleted = await admin.DeleteAsync($"/api/v1/superuser/users/{name}", Ct))
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        // Deleted: the password stops working (the 5 s credential cache is the bound), and a second delete is a 404.
        await Eventually.Async(() => { using var r = user.GetAsync("/api/v1/user/", Ct).GetAwaiter().GetResult(); return r.StatusCode; },
            status => status == HttpStatusCode.Unauthorized, 30_000);
        using (var again = await admin.DeleteAsync($"/api/v1/superuser/users/{name}", Ct))
            Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
    }

    [Fact]
    public async Task The_admin_logs_in_with_Basic_on_gRPC_and_REST_and_nobody_else_gets_in_without_credentials()
    {
        var me = await Identity.GetCallerAsync(new GetCallerRequest(), Admin, cancellationToken: Ct);
        Assert.Equal(("admin", true, BuildGrid.Identity.V1.PrincipalKind.User), (me.Name, me.Admin, me.Kind));

        using var admin = Http(BasicValue("admin", GuardedHostFixture.AdminPassword));
        using var rest = await admin.GetAsync("/buildgrid/v1/me", Ct);
        Assert.Equal(HttpStatusCode.OK, rest.StatusCode);
        using (var json = JsonDocument.Parse(await rest.Content.ReadAsStringAsync(Ct)))
            Assert.Equal("admin", json.RootElement.GetProperty("name").GetString());

        using var quay = await admin.GetAsync("/api/v1/user/", Ct);
        Assert.Equal(HttpStatusCode.OK, quay.StatusCode);
        using (var json = JsonDocument.Parse(await quay.Content.ReadAsStringAsync(Ct)))
        {
            Assert.Equal("admin", json.RootElement.GetProperty("username").GetString());
            Assert.True(json.RootElement.GetProperty("super_user").GetBoolean());
        }

        using var anonymous = Http(null);
        using var refused = await anonymous.GetAsync("/api/v1/user/", Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        using (var json = JsonDocument.Parse(await refused.Content.ReadAsStringAsync(Ct)))
            Assert.Equal(401, json.RootElement.GetProperty("status").GetInt32());
        using var wrong = Http(BasicValue("admin", "not-the-password"));
        using var wrongAnswer = await wrong.GetAsync("/buildgrid/v1/me", Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongAnswer.StatusCode);
    }

    [Fact]
    public async Task A_user_makes_API_tokens_that_work_as_Bearer_until_revoked_or_expired()
    {
        var password = "alice-Pa55word";
        var alice = await CreateUserAsync(password);
        var asAlice = Basic(alice, password);
        Assert.Equal(alice, (await Identity.GetCallerAsync(new GetCallerRequest(), asAlice, cancellationToken: Ct)).Name);
        // Not an admin: user management is refused.
        Assert.Equal(StatusCode.PermissionDenied, await StatusOf(() => Identity.ListUsersAsync(new ListUsersRequest(), asAlice, cancellationToken: Ct).ResponseAsync));

        var created = await Identity.CreateTokenAsync(new CreateTokenRequest { Name = "ci" }, asAlice, cancellationToken: Ct);
        Assert.StartsWith("bgt_", created.Secret, StringComparison.Ordinal);
        Assert.Equal(alice, (await Identity.GetCallerAsync(new GetCallerRequest(), Bearer(created.Secret), cancellationToken: Ct)).Name);
        using (var http = Http("Bearer " + created.Secret))
        {
            using var me = await http.GetAsync("/buildgrid/v1/me", Ct);
            Assert.Equal(HttpStatusCode.OK, me.StatusCode);
            using var list = await http.GetAsync("/buildgrid/v1/tokens", Ct);
            var body = await list.Content.ReadAsStringAsync(Ct);
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
            Assert.Contains(created.Token.Id, body, StringComparison.Ordinal);
            Assert.DoesNotContain(created.Secret, body, StringComparison.Ordinal);
        }
        var listed = await Identity.ListTokensAsync(new ListTokensRequest(), asAlice, cancellationToken: Ct);
        Assert.Equal(["ci"], listed.Tokens.Select(t => t.Name));
        Assert.NotNull(listed.Tokens[0].LastUsedTime);

        await Identity.RevokeTokenAsync(new RevokeTokenRequest { Id = created.Token.Id }, asAlice, cancellationToken: Ct);
        var direct = await Assert.ThrowsAsync<RpcException>(() => Identity.AuthenticateAsync(
            new AuthenticateRequest { Authorization = "Bearer " + created.Secret }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, direct.StatusCode);
        await Until(StatusCode.Unauthenticated, () => Identity.GetCallerAsync(new GetCallerRequest(), Bearer(created.Secret), cancellationToken: Ct).ResponseAsync);

        // A token past its expiry is refused; one cannot be made already expired.
        var past = await Assert.ThrowsAsync<RpcException>(() => Identity.CreateTokenAsync(new CreateTokenRequest
        {
            Name = "old", ExpireTime = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddMinutes(-1)),
        }, asAlice, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, past.StatusCode);
        var shortLived = await Identity.CreateTokenAsync(new CreateTokenRequest
        {
            Name = "short", ExpireTime = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddSeconds(2)),
        }, asAlice, cancellationToken: Ct);
        await Until(StatusCode.Unauthenticated, () => Identity.GetCallerAsync(new GetCallerRequest(), Bearer(shortLived.Secret), cancellationToken: Ct).ResponseAsync);
        await Until(StatusCode.Unauthenticated, () => Identity.AuthenticateAsync(
            new AuthenticateRequest { Authorization = "Bearer " + shortLived.Secret }, cancellationToken: Ct).ResponseAsync);
    }

    [Fact]
    public async Task A_robot_logs_in_as_namespace_plus_name_with_its_token_and_its_roles_stay_in_its_namespace()
    {
        var ns = Unique("team");
        using var admin = Http(BasicValue("admin", GuardedHostFixture.AdminPassword));
        using var put = await admin.PutAsync($"/api/v1/organization/{ns}/robots/builder",
            new StringContent("""{"description":"CI pushes"}""", Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        string token;
        using (var json = JsonDocument.Parse(await put.Content.ReadAsStringAsync(Ct)))
        {
            Assert.Equal($"{ns}+builder", json.RootElement.GetProperty("name").GetString());
            Assert.Equal("CI pushes", json.RootElement.GetProperty("description").GetString());
            token = json.RootElement.GetProperty("token").GetString()!;
        }

        var robot = Basic($"{ns}+builder", token);
        var me = await Identity.GetCallerAsync(new GetCallerRequest(), robot, cancellationToken: Ct);
        Assert.Equal(BuildGrid.Identity.V1.PrincipalKind.Robot, me.Kind);
        Assert.Equal(new Dictionary<string, Role> { [ns] = Role.Developer }, me.Roles);
        Assert.False(me.ExpiresSoon);
        Assert.Equal($"{ns}+builder", (await Identity.GetCallerAsync(new GetCallerRequest(), Bearer(token), cancellationToken: Ct)).Name);
        using (var asRobot = Http(BasicValue($"{ns}+builder", token)))
        {
            using var user = await asRobot.GetAsync("/api/v1/user/", Ct);
            Assert.Equal(HttpStatusCode.OK, user.StatusCode);
            using var json = JsonDocument.Parse(await user.Content.ReadAsStringAsync(Ct));
            Assert.Equal($"{ns}+builder", json.RootElement.GetProperty("username").GetString());
            // A developer robot may not manage its namespace's robots.
            using var robots = await asRobot.GetAsync($"/api/v1/organization/{ns}/robots", Ct);
            Assert.Equal(HttpStatusCode.Forbidden, robots.StatusCode);
        }

        // Confined: a robot cannot be given a role in another namespace.
        var elsewhere = await Assert.ThrowsAsync<RpcException>(() => Identity.GrantRoleAsync(new GrantRoleRequest
        {
            Namespace = Unique("other"), Principal = $"{ns}+builder", Role = Role.Owner,
        }, Admin, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, elsewhere.StatusCode);

        // The list never carries a token; it shows the expiry.
        using var list = await admin.GetAsync($"/api/v1/organization/{ns}/robots", Ct);
        var listBody = await list.Content.ReadAsStringAsync(Ct);
        Assert.DoesNotContain(token, listBody, StringComparison.Ordinal);
        using (var json = JsonDocument.Parse(listBody))
        {
            var item = Assert.Single(json.RootElement.GetProperty("robots").EnumerateArray());
            Assert.False(item.TryGetProperty("token", out _));
            Assert.True(item.GetProperty("expiration").GetInt64() > DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        }

        // Regenerating replaces the token.
        using var regenerated = await admin.PostAsync($"/api/v1/organization/{ns}/robots/builder/regenerate", null, Ct);
        Assert.Equal(HttpStatusCode.OK, regenerated.StatusCode);
        string fresh;
        using (var json = JsonDocument.Parse(await regenerated.Content.ReadAsStringAsync(Ct)))
            fresh = json.RootElement.GetProperty("token").GetString()!;
        Assert.NotEqual(token, fresh);
        Assert.Equal(StatusCode.Unauthenticated, await StatusOf(() => Identity.AuthenticateAsync(
            new AuthenticateRequest { Authorization = BasicValue($"{ns}+builder", token) }, cancellationToken: Ct).ResponseAsync));
        Assert.Equal($"{ns}+builder", (await Identity.AuthenticateAsync(
            new AuthenticateRequest { Authorization = BasicValue($"{ns}+builder", fresh) }, cancellationToken: Ct)).Name);

        using var deleted = await admin.DeleteAsync($"/api/v1/organization/{ns}/robots/builder", Ct);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        using var gone = await admin.GetAsync($"/api/v1/organization/{ns}/robots/builder", Ct);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        using (var json = JsonDocument.Parse(await gone.Content.ReadAsStringAsync(Ct)))
            Assert.Equal("not_found", json.RootElement.GetProperty("error_type").GetString());
    }

    [Fact]
    public async Task Granting_and_revoking_roles_changes_what_a_user_may_do_in_a_namespace()
    {
        var password = "bob-Pa55word";
        var bob = await CreateUserAsync(password);
        var asBob = Basic(bob, password);
        var ns = Unique("team");
        Task ListRobots(string @namespace) => Identity.ListRobotsAsync(new ListRobotsRequest { Namespace = @namespace }, asBob, cancellationToken: Ct).ResponseAsync;

        Assert.Equal(StatusCode.PermissionDenied, await StatusOf(() => ListRobots(ns)));
        await Identity.GrantRoleAsync(new GrantRoleRequest { Namespace = ns, Principal = bob, Role = Role.Developer }, Admin, cancellationToken: Ct);
        // A developer reads the members but does not manage robots.
        await Until(StatusCode.OK, () => Identity.ListRolesAsync(new ListRolesRequest { Namespace = ns }, asBob, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, await StatusOf(() => ListRobots(ns)));

        await Identity.GrantRoleAsync(new GrantRoleRequest { Namespace = ns, Principal = bob, Role = Role.Owner }, Admin, cancellationToken: Ct);
        await Until(StatusCode.OK, () => ListRobots(ns));
        var robot = await Identity.CreateRobotAsync(new CreateRobotRequest { Namespace = ns, Name = "deployer" }, asBob, cancellationToken: Ct);
        Assert.Equal($"{ns}+deployer", robot.Robot.FullName);
        // Owner of one namespace only.
        Assert.Equal(StatusCode.PermissionDenied, await StatusOf(() => ListRobots(Unique("team"))));
        var roles = await Identity.ListRolesAsync(new ListRolesRequest { Namespace = ns }, asBob, cancellationToken: Ct);
        Assert.Contains(roles.Bindings, b => b.Principal == bob && b.Role == Role.Owner);

        await Identity.RevokeRoleAsync(new RevokeRoleRequest { Namespace = ns, Principal = bob }, Admin, cancellationToken: Ct);
        await Until(StatusCode.PermissionDenied, () => ListRobots(ns));
    }

    [Fact]
    public async Task Five_wrong_passwords_lock_the_account_and_then_even_the_right_one_is_refused()
    {
        var password = "carol-Pa55word";
        var carol = await CreateUserAsync(password);
        var other = await CreateUserAsync(password);
        for (var i = 0; i < 5; i++)
            Assert.Equal(StatusCode.Unauthenticated, await StatusOf(() => Identity.AuthenticateAsync(
                new AuthenticateRequest { Authorization = BasicValue(carol, "wrong-guess-" + i) }, cancellationToken: Ct).ResponseAsync));

        var locked = await Assert.ThrowsAsync<RpcException>(() => Identity.AuthenticateAsync(
            new AuthenticateRequest { Authorization = BasicValue(carol, password) }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, locked.StatusCode);
        Assert.Contains("Too many failed logins", locked.Status.Detail, StringComparison.Ordinal);
        // Through another service's call as well, and on REST.
        Assert.Equal(StatusCode.ResourceExhausted, await StatusOf(() => new BuildGrid.Projects.V1.Projects.ProjectsClient(fixture.Channel)
            .ListProjectsAsync(new BuildGrid.Projects.V1.ListProjectsRequest(), Basic(carol, password), cancellationToken: Ct).ResponseAsync));
        using var http = Http(BasicValue(carol, password));
        using var rest = await http.GetAsync("/buildgrid/v1/me", Ct);
        Assert.Equal(HttpStatusCode.TooManyRequests, rest.StatusCode);

        // Another account is not affected.
        Assert.Equal(other, (await Identity.AuthenticateAsync(new AuthenticateRequest { Authorization = BasicValue(other, password) }, cancellationToken: Ct)).Name);
    }

    [Fact]
    public async Task The_database_holds_no_password_or_token_in_clear()
    {
        var password = "Plain-Text-Never-" + Guid.NewGuid().ToString("N");
        var name = await CreateUserAsync(password);
        var token = (await Identity.CreateTokenAsync(new CreateTokenRequest { Name = "db-check" }, Basic(name, password), cancellationToken: Ct)).Secret;
        var ns = Unique("team");
        var robotToken = (await Identity.CreateRobotAsync(new CreateRobotRequest { Namespace = ns, Name = "scanner" }, Admin, cancellationToken: Ct)).Token;

        // What is stored: every value of every table of Identity's database (its SQLite file or its PostgreSQL schema),
        // as text and as bytes; on SQLite also the raw files (WAL, free pages), which hold what a row no longer shows.
        await using var connection = await PostgresServer.OpenServiceDatabaseAsync(fixture.Host.DataDir, "identity");
        var stored = new MemoryStream();
        await using (var tables = connection.CreateCommand())
        {
            tables.CommandText = PostgresServer.Selected
                ? "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
                : "SELECT name FROM sqlite_master WHERE type = 'table'";
            var names = new List<string>();
            await using (var reader = await tables.ExecuteReaderAsync(Ct))
                while (await reader.ReadAsync(Ct))
                    names.Add(reader.GetString(0));
            Assert.Contains("users", names);
            foreach (var table in names)
            {
                await using var rows = connection.CreateCommand();
                rows.CommandText = $"SELECT * FROM \"{table}\"";
                await using var reader = await rows.ExecuteReaderAsync(Ct);
                while (await reader.ReadAsync(Ct))
                    for (var i = 0; i < reader.FieldCount; i++)
                    {
                        var value = reader.GetValue(i);
                        var bytes = value as byte[] ?? Encoding.UTF8.GetBytes(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "");
                        stored.Write(bytes);
                        stored.WriteByte(0);
                    }
            }
        }
        if (!PostgresServer.Selected)
        {
            var files = Directory.GetFiles(fixture.Host.DataDir, "identity.db*");
            Assert.Contains(files, f => f.EndsWith("identity.db", StringComparison.Ordinal));
            foreach (var file in files)
            {
                await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                await stream.CopyToAsync(stored, Ct);
            }
        }
        var scanned = stored.ToArray();
        // The scan sees what is stored (the user's name is), and none of the secrets.
        Assert.NotEqual(-1, scanned.AsSpan().IndexOf(Encoding.UTF8.GetBytes(name)));
        foreach (var secret in new[] { password, token, robotToken, GuardedHostFixture.AdminPassword })
        {
            Assert.Equal(-1, scanned.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)));
            Assert.Equal(-1, scanned.AsSpan().IndexOf(Encoding.Unicode.GetBytes(secret)));
        }

        // A PBKDF2 hash in ASP.NET Core Identity's v3 format, and SHA-256 hex of the tokens.
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT password_hash FROM users WHERE name = @name";
        var parameter = command.CreateParameter();
        parameter.ParameterName = "name";
        parameter.Value = name;
        command.Parameters.Add(parameter);
        var hash = (string)(await command.ExecuteScalarAsync(Ct))!;
        Assert.Equal(0x01, Convert.FromBase64String(hash)[0]);
        command.CommandText = "SELECT COUNT(*) FROM api_tokens WHERE length(token_hash) = 64 AND token_hash NOT LIKE 'bgt_%'";
        Assert.True(Convert.ToInt64(await command.ExecuteScalarAsync(Ct), System.Globalization.CultureInfo.InvariantCulture) >= 1);
    }

    [Fact]
    public async Task Identitys_own_writes_are_in_the_audit_log_for_admins_and_namespace_owners()
    {
        var password = "dave-Pa55word";
        var dave = await CreateUserAsync(password);
        var ns = Unique("team");
        await Identity.GrantRoleAsync(new GrantRoleRequest { Namespace = ns, Principal = dave, Role = Role.Owner }, Admin, cancellationToken: Ct);
        var robot = await Identity.CreateRobotAsync(new CreateRobotRequest { Namespace = ns, Name = "pusher" }, Admin, cancellationToken: Ct);

        var all = await Identity.ListAuditEntriesAsync(new ListAuditEntriesRequest { Principal = "admin", PageSize = 200 }, Admin, cancellationToken: Ct);
        Assert.Contains(all.Entries, e => e.Action == "/buildgrid.identity.v1.Identity/CreateUser" && e.Resource == $"user:{dave}" && e.Service == "identity");
        var inNamespace = await Identity.ListAuditEntriesAsync(new ListAuditEntriesRequest { Namespace = ns }, Admin, cancellationToken: Ct);
        Assert.Equal(["/buildgrid.identity.v1.Identity/CreateRobot", "/buildgrid.identity.v1.Identity/GrantRole"], inNamespace.Entries.Select(e => e.Action));
        Assert.DoesNotContain(robot.Token, all.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(password, all.ToString(), StringComparison.Ordinal);

        // Quay's shapes: the superuser's log and an organization's log (its owner may read it; others may not).
        using var admin = Http(BasicValue("admin", GuardedHostFixture.AdminPassword));
        using var superLogs = await admin.GetAsync("/api/v1/superuser/logs", Ct);
        Assert.Equal(HttpStatusCode.OK, superLogs.StatusCode);
        using (var json = JsonDocument.Parse(await superLogs.Content.ReadAsStringAsync(Ct)))
            Assert.Contains(json.RootElement.GetProperty("logs").EnumerateArray(), l => l.GetProperty("kind").GetString() == "create_user"
                && l.GetProperty("performer").GetProperty("name").GetString() == "admin");
        await Until(StatusCode.OK, () => Identity.ListAuditEntriesAsync(new ListAuditEntriesRequest { Namespace = ns }, Basic(dave, password), cancellationToken: Ct).ResponseAsync);
        using var asDave = Http(BasicValue(dave, password));
        using var orgLogs = await asDave.GetAsync($"/api/v1/organization/{ns}/logs", Ct);
        Assert.Equal(HttpStatusCode.OK, orgLogs.StatusCode);
        using (var json = JsonDocument.Parse(await orgLogs.Content.ReadAsStringAsync(Ct)))
            Assert.Contains(json.RootElement.GetProperty("logs").EnumerateArray(), l => l.GetProperty("kind").GetString() == "create_robot"
                && l.GetProperty("namespace").GetProperty("name").GetString() == ns);
        using var notHis = await asDave.GetAsync($"/api/v1/organization/{Unique("team")}/logs", Ct);
        Assert.Equal(HttpStatusCode.Forbidden, notHis.StatusCode);
        using var notSuper = await asDave.GetAsync("/api/v1/superuser/logs", Ct);
        Assert.Equal(HttpStatusCode.Forbidden, notSuper.StatusCode);
    }

    [Fact]
    public async Task AuditRecorded_events_of_other_services_are_stored_once()
    {
        var ns = Unique("team");
        var entry = new AuditRecorded
        {
            Id = Guid.NewGuid().ToString(), Time = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow), Principal = "admin", PrincipalKind = "user",
            Service = "projects", Action = "/buildgrid.projects.v1.Projects/CreateProject", Namespace = ns, Resource = "web",
        };
        var cloudEvent = new CloudEvent(Guid.NewGuid().ToString(), "/buildgrid/projects", AuditRecorded.Descriptor.FullName,
            Topics.For(AuditRecorded.Descriptor), DateTimeOffset.UtcNow, JsonFormatter.Default.Format(entry), null);
        var bus = fixture.Host.App.Services.GetRequiredService<IEventPublisher>();
        await bus.PublishAsync(cloudEvent, Ct);
        await bus.PublishAsync(cloudEvent, Ct);   // a redelivery

        var listed = await Identity.ListAuditEntriesAsync(new ListAuditEntriesRequest { Namespace = ns }, Admin, cancellationToken: Ct);
        var stored = Assert.Single(listed.Entries);
        Assert.Equal(("projects", "web", entry.Id), (stored.Service, stored.Resource, stored.Id));
    }
}

/// <summary>The seeds' Harbor default admin password: accepted only in protected mode.</summary>
public sealed class HarborDefaultPasswordTests
{
    static string Basic(string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{password}"));

    [Fact]
    public async Task Harbor12345_is_the_admin_only_in_protected_mode()
    {
        var ct = TestContext.Current.CancellationToken;
        await using (var open = await OwnedHost.StartAsync("harbor-open"))
        {
            using var channel = GrpcChannel.ForAddress(open.GrpcUrl);
            var identity = new IdentityClient(channel);
            var me = await identity.GetCallerAsync(new GetCallerRequest(), new Metadata { { "authorization", Basic("Harbor12345") } }, cancellationToken: ct);
            Assert.Equal(("admin", true), (me.Name, me.Admin));
            var wrong = await Assert.ThrowsAsync<RpcException>(() => identity.GetCallerAsync(new GetCallerRequest(),
                new Metadata { { "authorization", Basic("Harbor12346") } }, cancellationToken: ct).ResponseAsync);
            Assert.Equal(StatusCode.Unauthenticated, wrong.StatusCode);
        }
        await using (var guarded = await OwnedHost.StartAsync("harbor-guarded", "--BUILDGRID_ADMIN_PASSWORD=An0ther-secret"))
        {
            using var channel = GrpcChannel.ForAddress(guarded.GrpcUrl);
            var identity = new IdentityClient(channel);
            var refused = await Assert.ThrowsAsync<RpcException>(() => identity.GetCallerAsync(new GetCallerRequest(),
                new Metadata { { "authorization", Basic("Harbor12345") } }, cancellationToken: ct).ResponseAsync);
            Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
            Assert.Equal("admin", (await identity.GetCallerAsync(new GetCallerRequest(),
                new Metadata { { "authorization", Basic("An0ther-secret") } }, cancellationToken: ct)).Name);
        }
    }
}
