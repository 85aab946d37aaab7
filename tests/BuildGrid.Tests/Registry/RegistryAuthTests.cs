using System.Buffers.Text;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using BuildGrid.Core.Identity;
using BuildGrid.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;

namespace BuildGrid.Tests.Registry;

/// <summary>
/// Identity on the registry with an admin password set: the distribution token flow with real clients (podman, skopeo,
/// buildah), private and public repositories on /v2/ and through the Harbor and Quay facades, what a registry token
/// grants and what it does not, and a build run that pushes with a token minted for its repository.
/// </summary>
public sealed class RegistryAuthTests
{
    const string Password = "Reg-s3cret-pw";
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    static Task<OwnedHost> StartAsync(string name) => OwnedHost.StartAsync(name, $"--BUILDGRID_ADMIN_PASSWORD={Password}");

    static HttpClient Client(OwnedHost host, AuthenticationHeaderValue? authorization = null)
    {
        var http = new HttpClient { BaseAddress = host.RestUrl };
        http.DefaultRequestHeaders.Authorization = authorization;
        return http;
    }

    /// <summary>GET /v2/token for the scopes, with the credentials given (none: anonymous); the response's status and body.</summary>
    static async Task<(HttpStatusCode Status, JsonElement Body)> TokenAsync(OwnedHost host, AuthenticationHeaderValue? credentials, params string[] scopes)
    {
        using var http = Client(host, credentials);
        var query = string.Join("", scopes.Select(s => "&scope=" + Uri.EscapeDataString(s)));
        using var response = await http.GetAsync($"/v2/token?service=buildgrid{query}", Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    static async Task<string> TokenForAsync(OwnedHost host, AuthenticationHeaderValue? credentials, params string[] scopes)
    {
        var (status, body) = await TokenAsync(host, credentials, scopes);
        Assert.Equal(HttpStatusCode.OK, status);
        return body.GetProperty("token").GetString()!;
    }

    static JsonElement PayloadOf(string jwt) =>
        JsonDocument.Parse(Base64Url.DecodeFromChars(jwt.Split('.')[1])).RootElement.Clone();

    static async Task<(HttpStatusCode Status, string Code)> GetV2Async(OwnedHost host, string path, AuthenticationHeaderValue? authorization)
    {
        using var http = Client(host, authorization);
        using var response = await http.GetAsync(path, Ct);
        var code = response.IsSuccessStatusCode ? "" : await V2Client.ErrorCodeAsync(response);
        return (response.StatusCode, code);
    }

    static string Layout(string name, OciTestImage image)
    {
        var directory = TestDirectories.Create(name);
        OciTestImage.WriteLayout(directory, "v1", image.Manifest, image.Blobs);
        return directory;
    }

    [Fact]
    public async Task Podman_skopeo_and_buildah_log_in_with_the_admin_and_are_refused_a_wrong_password()
    {
        await using var host = await StartAsync("reg-login");
        var registry = host.RestUrl.Authority;
        var authDir = TestDirectories.Create("reg-login-auth");
        try
        {
            foreach (var (tool, package) in new[] { ("podman", "podman"), ("skopeo", "skopeo"), ("buildah", "buildah") })
            {
                var program = Tools.Require(tool, package);
                var authFile = Path.Combine(authDir, tool + ".json");
                var (ok, okOutput) = await Tools.RunAsync(program, authDir, "login", "--tls-verify=false", "--authfile", authFile,
                    "-u", "admin", "-p", Password, registry);
                Assert.True(ok == 0, $"{tool} login as admin: {okOutput}");
                Assert.Contains("Login Succeeded", okOutput, StringComparison.OrdinalIgnoreCase);
                Assert.Contains(registry, await File.ReadAllTextAsync(authFile, Ct), StringComparison.Ordinal);

                var (bad, badOutput) = await Tools.RunAsync(program, authDir, "login", "--tls-verify=false", "--authfile", Path.Combine(authDir, tool + "-bad.json"),
                    "-u", "admin", "-p", Password + "x", registry);
                Assert.True(bad != 0, $"{tool} login with a wrong password succeeded: {badOutput}");
                // containers/image reports the token endpoint's 401 as this.
                Assert.Contains("invalid username/password", badOutput, StringComparison.OrdinalIgnoreCase);
            }
        }
        finally
        {
            TestDirectories.TryDelete(authDir);
        }
    }

    [Fact]
    public async Task The_admin_pushes_and_pulls_with_skopeo_and_anonymous_callers_see_only_public_repositories()
    {
        var skopeo = Tools.Require("skopeo", "skopeo");
        await using var host = await StartAsync("reg-visibility");
        var registry = host.RestUrl.Authority;
        var work = TestDirectories.Create("reg-visibility-work");
        try
        {
            var image = OciTestImage.Create("private content " + Guid.NewGuid());
            var layout = Layout("reg-visibility-layout", image);
            // team-x is a new namespace: its repositories start private. default_cluster is public: so are its repositories.
            foreach (var target in new[] { "team-x/app:v1", "default_cluster/shared:v1" })
                await Tools.RunOkAsync(skopeo, work, "copy", "--dest-tls-verify=false", "--dest-creds", $"admin:{Password}",
                    $"oci:{layout}:v1", $"docker://{registry}/{target}");
            var pulled = Path.Combine(work, "pulled");
            await Tools.RunOkAsync(skopeo, work, "copy", "--src-tls-verify=false", "--src-creds", $"admin:{Password}",
                $"docker://{registry}/team-x/app:v1", $"oci:{pulled}:v1");
            Assert.Equal(image.Manifest.Digest, OciTestImage.LayoutDigest(pulled));

            // Anonymous clients: the public repository pulls, the private one does not exist for them.
            await Tools.RunOkAsync(skopeo, work, "inspect", "--tls-verify=false", "--no-creds", "--raw", $"docker://{registry}/default_cluster/shared:v1");
            var (code, output) = await Tools.RunAsync(skopeo, work, "copy", "--src-tls-verify=false", "--src-no-creds",
                $"docker://{registry}/team-x/app:v1", $"oci:{Path.Combine(work, "stolen")}:v1");
            Assert.True(code != 0, $"an anonymous pull of a private repository succeeded: {output}");

            // Without credentials: the token flow's challenge, naming the scope needed.
            using (var anonymous = Client(host))
            using (var challenged = await anonymous.GetAsync("/v2/team-x/app/tags/list", Ct))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, challenged.StatusCode);
                Assert.Equal("UNAUTHORIZED", await V2Client.ErrorCodeAsync(challenged));
                Assert.Equal($"Bearer realm=\"http://{registry}/v2/token\",service=\"buildgrid\",scope=\"repository:team-x/app:pull\"",
                    V2Client.Header(challenged, "WWW-Authenticate"));
            }
            // An anonymous token grants nothing on the private repository: its tags and manifests are unknown, exactly like a
            // repository that does not exist; the public one answers.
            var anonymousToken = await TokenForAsync(host, null, "repository:team-x/app:pull", "repository:default_cluster/shared:pull");
            Assert.Equal(["default_cluster/shared"], PayloadOf(anonymousToken).GetProperty("access").EnumerateArray().Select(a => a.GetProperty("name").GetString()));
            var bearer = new AuthenticationHeaderValue("Bearer", anonymousToken);
            Assert.Equal((HttpStatusCode.NotFound, "NAME_UNKNOWN"), await GetV2Async(host, "/v2/team-x/app/tags/list", bearer));
            Assert.Equal((HttpStatusCode.NotFound, "NAME_UNKNOWN"), await GetV2Async(host, $"/v2/team-x/app/manifests/{image.Manifest.Digest}", bearer));
            Assert.Equal((HttpStatusCode.NotFound, "NAME_UNKNOWN"), await GetV2Async(host, "/v2/team-x/nothing/tags/list", bearer));
            Assert.Equal((HttpStatusCode.OK, ""), await GetV2Async(host, "/v2/default_cluster/shared/tags/list", bearer));
            Assert.Equal((HttpStatusCode.OK, ""), await GetV2Async(host, "/v2/default_cluster/shared/tags/list", null));

            // Lists show what the caller may see: /v2/_catalog, Harbor's repositories, Quay's public list.
            async Task<string[]> CatalogAsync(AuthenticationHeaderValue? who)
            {
                using var http = Client(host, who);
                var body = JsonDocument.Parse(await http.GetStringAsync("/v2/_catalog", Ct)).RootElement;
                return body.GetProperty("repositories").EnumerateArray().Select(r => r.GetString()!).ToArray();
            }
            Assert.Equal(["default_cluster/shared"], await CatalogAsync(bearer));
            Assert.Equal(["default_cluster/shared", "team-x/app"], await CatalogAsync(Basic("admin", Password)));
            using (var anonymous = Client(host))
            {
                var harbor = JsonDocument.Parse(await anonymous.GetStringAsync("/repositories", Ct)).RootElement;
                Assert.Equal(["default_cluster/shared"], harbor.EnumerateArray().Select(r => r.GetProperty("name").GetString()));
                var quayList = JsonDocument.Parse(await anonymous.GetStringAsync("/api/v1/repository?public=true", Ct)).RootElement;
                Assert.Equal(["shared"], quayList.GetProperty("repositories").EnumerateArray().Select(r => r.GetProperty("name").GetString()));
                using var hidden = await anonymous.GetAsync("/api/v1/repository/team-x/app", Ct);
                Assert.Equal(HttpStatusCode.NotFound, hidden.StatusCode);
                var error = JsonDocument.Parse(await hidden.Content.ReadAsStringAsync(Ct)).RootElement;
                Assert.Equal(("not_found", 404), (error.GetProperty("error_type").GetString(), error.GetProperty("status").GetInt32()));
            }

            // Quay's changevisibility applies to /v2/ at once, both ways, with the token already held.
            using var quay = Client(host, Basic("admin", Password));
            using (var open = await quay.PostAsync("/api/v1/repository/team-x/app/changevisibility",
                       new StringContent("""{"visibility":"public"}""", Encoding.UTF8, "application/json"), Ct))
                Assert.Equal(HttpStatusCode.OK, open.StatusCode);
            Assert.Equal((HttpStatusCode.OK, ""), await GetV2Async(host, "/v2/team-x/app/tags/list", bearer));
            await Tools.RunOkAsync(skopeo, work, "inspect", "--tls-verify=false", "--no-creds", "--raw", $"docker://{registry}/team-x/app:v1");
            using (var close = await quay.PostAsync("/api/v1/repository/team-x/app/changevisibility",
                       new StringContent("""{"visibility":"private"}""", Encoding.UTF8, "application/json"), Ct))
                Assert.Equal(HttpStatusCode.OK, close.StatusCode);
            Assert.Equal((HttpStatusCode.NotFound, "NAME_UNKNOWN"), await GetV2Async(host, "/v2/team-x/app/tags/list", bearer));
        }
        finally
        {
            TestDirectories.TryDelete(work);
        }
    }

    [Fact]
    public async Task A_public_harbor_project_counts_only_its_public_repositories_for_callers_without_a_role()
    {
        await using var host = await StartAsync("reg-count");
        using var admin = Client(host, Basic("admin", Password));
        var v2 = new V2Client(admin);
        await v2.PushImageAsync("default_cluster/open", "v1", OciTestImage.Create("open " + Guid.NewGuid()));
        await v2.PushImageAsync("default_cluster/secret", "v1", OciTestImage.Create("secret " + Guid.NewGuid()));
        using (var flip = await admin.PostAsync("/api/v1/repository/default_cluster/secret/changevisibility",
                   new StringContent("""{"visibility":"private"}""", Encoding.UTF8, "application/json"), Ct))
            Assert.Equal(HttpStatusCode.OK, flip.StatusCode);

        static async Task<long> RepoCountAsync(HttpClient http)
        {
            var projects = JsonDocument.Parse(await http.GetStringAsync("/projects?project_name=default_cluster", Ct)).RootElement;
            return projects.EnumerateArray().Single(p => p.GetProperty("name").GetString() == "default_cluster").GetProperty("repo_count").GetInt64();
        }
        Assert.Equal(2, await RepoCountAsync(admin));
        using var anonymous = Client(host);
        Assert.Equal(1, await RepoCountAsync(anonymous)); // the private repository's existence is not told, not even as a count
    }

    [Fact]
    public async Task Pushes_and_deletes_on_v2_are_in_the_audit_log_under_the_authenticated_name()
    {
        await using var host = await StartAsync("reg-audit");
        using var admin = Client(host, Basic("admin", Password));
        var v2 = new V2Client(admin);
        await v2.PushImageAsync("team-audit/app", "v1", OciTestImage.Create("audited " + Guid.NewGuid()));
        using (var delete = await v2.SendAsync(HttpMethod.Delete, "/v2/team-audit/app/manifests/v1"))
            Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);

        var entries = await Eventually.Async(() =>
            JsonDocument.Parse(admin.GetStringAsync("/buildgrid/v1/audit-entries?namespace=team-audit", Ct).GetAwaiter().GetResult()).RootElement
                .GetProperty("entries").EnumerateArray().Where(e => e.GetProperty("service").GetString() == "registry").ToList(),
            list => list.Count >= 2, 30_000);
        Assert.Equal(["registry.delete", "registry.push"], entries.Select(e => e.GetProperty("action").GetString()).Order());
        Assert.All(entries, e => Assert.Equal("admin", e.GetProperty("principal").GetString()));
        Assert.Contains(entries, e => e.GetProperty("resource").GetString()!.StartsWith("team-audit/app:v1@sha256:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_registry_token_grants_only_its_repositories_and_a_tampered_expired_or_foreign_one_is_refused()
    {
        await using var host = await StartAsync("reg-tokens");
        using (var admin = Client(host, Basic("admin", Password)))
        {
            var v2 = new V2Client(admin);
            await v2.PushImageAsync("team-a/one", "v1", OciTestImage.Create("a " + Guid.NewGuid()));
            await v2.PushImageAsync("team-b/two", "v1", OciTestImage.Create("b " + Guid.NewGuid()));
        }

        // The response of the token spec; the token grants what was asked and allowed, nothing more.
        var (status, body) = await TokenAsync(host, Basic("admin", Password), "repository:team-a/one:pull,push");
        Assert.Equal(HttpStatusCode.OK, status);
        var token = body.GetProperty("token").GetString()!;
        Assert.Equal(token, body.GetProperty("access_token").GetString());
        Assert.InRange(body.GetProperty("expires_in").GetInt32(), 60, 3600);
        Assert.True(DateTimeOffset.TryParse(body.GetProperty("issued_at").GetString(), out _));
        var access = Assert.Single(PayloadOf(token).GetProperty("access").EnumerateArray());
        Assert.Equal(("team-a/one", "pull,push"), (access.GetProperty("name").GetString(),
            string.Join(',', access.GetProperty("actions").EnumerateArray().Select(a => a.GetString()))));

        var bearer = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal((HttpStatusCode.OK, ""), await GetV2Async(host, "/v2/team-a/one/tags/list", bearer));
        Assert.Equal((HttpStatusCode.NotFound, "NAME_UNKNOWN"), await GetV2Async(host, "/v2/team-b/two/tags/list", bearer));
        using (var http = Client(host, bearer))
        {
            using var push = await http.PostAsync("/v2/team-b/two/blobs/uploads/", null, Ct);
            Assert.Equal(HttpStatusCode.Forbidden, push.StatusCode);
            Assert.Equal("DENIED", await V2Client.ErrorCodeAsync(push));
            // Asked without its scope, deleting is not granted either.
            using var delete = await http.DeleteAsync("/v2/team-a/one/manifests/v1", Ct);
            Assert.Equal(HttpStatusCode.Forbidden, delete.StatusCode);
        }

        // Harbor's realm path answers the same way.
        using (var http = Client(host, Basic("admin", Password)))
        {
            var harborToken = JsonDocument.Parse(await http.GetStringAsync("/service/token?service=buildgrid&scope=repository:team-b/two:pull", Ct)).RootElement;
            Assert.Equal((HttpStatusCode.OK, ""), await GetV2Async(host, "/v2/team-b/two/tags/list",
                new AuthenticationHeaderValue("Bearer", harborToken.GetProperty("token").GetString())));
        }

        // Wrong credentials at the token endpoint: the spec's 401.
        var (refused, error) = await TokenAsync(host, Basic("admin", "nope"), "repository:team-a/one:pull");
        Assert.Equal(HttpStatusCode.Unauthorized, refused);
        Assert.Equal("UNAUTHORIZED", error.GetProperty("errors")[0].GetProperty("code").GetString());

        // A token whose payload was edited to name team-b keeps its signature, which no longer matches.
        var parts = token.Split('.');
        var forgedPayload = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[1])).Replace("team-a/one", "team-b/two", StringComparison.Ordinal);
        var tampered = $"{parts[0]}.{Base64Url.EncodeToString(Encoding.UTF8.GetBytes(forgedPayload))}.{parts[2]}";
        var settings = host.App.Services.GetRequiredService<IdentitySettings>();
        var expired = new RegistryTokens(settings, new ShiftedTime(TimeSpan.FromHours(-2)))
            .Issue(Principal.User("admin", isAdmin: true), [new RegistryAccess("repository", "team-a/one", ["pull"])]).Token;
        var foreign = new RegistryTokens(new IdentitySettings { ServiceKey = new byte[32] }, TimeProvider.System)
            .Issue(Principal.User("admin", isAdmin: true), [new RegistryAccess("repository", "team-a/one", ["pull"])]).Token;
        foreach (var bad in new[] { tampered, expired, foreign })
        {
            using var http = Client(host, new AuthenticationHeaderValue("Bearer", bad));
            using var response = await http.GetAsync("/v2/team-a/one/tags/list", Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Contains("error=\"invalid_token\"", V2Client.Header(response, "WWW-Authenticate"), StringComparison.Ordinal);
        }

        // Roles bound what a token can carry: a developer of team-a pushes there but may not delete (owner) or touch team-b.
        // (The registry re-checks a token's user against the identity: "dev" must exist, with that role.)
        using (var channel = GrpcChannel.ForAddress(host.GrpcUrl))
        {
            var identity = new BuildGrid.Identity.V1.Identity.IdentityClient(channel);
            var admin = new Metadata { { "authorization", Basic("admin", Password).ToString() } };
            await identity.CreateUserAsync(new BuildGrid.Identity.V1.CreateUserRequest { Name = "dev", Password = "dev-Pa55word-x" }, admin, cancellationToken: Ct);
            await identity.GrantRoleAsync(new BuildGrid.Identity.V1.GrantRoleRequest { Namespace = "team-a", Principal = "dev", Role = BuildGrid.Identity.V1.Role.Developer },
                admin, cancellationToken: Ct);
        }
        var developer = host.App.Services.GetRequiredService<RegistryTokens>().Issue(
            Principal.User("dev", isAdmin: false, new Dictionary<string, Role> { ["team-a"] = Role.Developer }),
            [new RegistryAccess("repository", "team-a/one", ["pull", "push", "delete"]), new RegistryAccess("repository", "team-b/two", ["pull", "push"])]).Token;
        using (var http = Client(host, new AuthenticationHeaderValue("Bearer", developer)))
        {
            using var push = await http.PostAsync("/v2/team-a/one/blobs/uploads/", null, Ct);
            Assert.Equal(HttpStatusCode.Accepted, push.StatusCode);
            using var delete = await http.DeleteAsync("/v2/team-a/one/manifests/v1", Ct);
            Assert.Equal(HttpStatusCode.Forbidden, delete.StatusCode);
            Assert.Equal("DENIED", await V2Client.ErrorCodeAsync(delete));
        }
        Assert.Equal((HttpStatusCode.NotFound, "NAME_UNKNOWN"), await GetV2Async(host, "/v2/team-b/two/tags/list", new AuthenticationHeaderValue("Bearer", developer)));
        // ... and the token endpoint itself never grants what the principal lacks.
        var reissued = await TokenForAsync(host, Basic("dev", developer), "repository:team-a/one:pull,push,delete", "repository:team-b/two:pull");
        var granted = Assert.Single(PayloadOf(reissued).GetProperty("access").EnumerateArray());
        Assert.Equal("pull,push", string.Join(',', granted.GetProperty("actions").EnumerateArray().Select(a => a.GetString())));
    }

    [Fact]
    public async Task Registry_grpc_reads_show_anonymous_callers_public_repositories_only_and_writes_need_rights()
    {
        await using var host = await StartAsync("reg-grpc");
        using (var admin = Client(host, Basic("admin", Password)))
        {
            var v2 = new V2Client(admin);
            await v2.PushImageAsync("team-p/hidden", "v1", OciTestImage.Create("h " + Guid.NewGuid()));
            await v2.PushImageAsync("default_cluster/open", "v1", OciTestImage.Create("o " + Guid.NewGuid()));
        }
        using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
        var registry = new BuildGrid.Registry.V1.Registry.RegistryClient(channel);
        var list = await registry.ListRepositoriesAsync(new BuildGrid.Registry.V1.ListRepositoriesRequest(), cancellationToken: Ct);
        Assert.Equal(["default_cluster/open"], list.Repositories.Select(r => r.Name));
        Assert.Equal(1, list.TotalSize);
        var hidden = await Assert.ThrowsAsync<RpcException>(() => registry.GetRepositoryAsync(
            new BuildGrid.Registry.V1.GetRepositoryRequest { Name = "team-p/hidden" }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, hidden.StatusCode);
        var tags = await Assert.ThrowsAsync<RpcException>(() => registry.ListTagsAsync(
            new BuildGrid.Registry.V1.ListTagsRequest { Repository = "team-p/hidden" }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, tags.StatusCode);
        var delete = await Assert.ThrowsAsync<RpcException>(() => registry.DeleteRepositoryAsync(
            new BuildGrid.Registry.V1.DeleteRepositoryRequest { Name = "default_cluster/open" }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, delete.StatusCode);

        var admin2 = new Metadata { { "authorization", Basic("admin", Password).ToString() } };
        var all = await registry.ListRepositoriesAsync(new BuildGrid.Registry.V1.ListRepositoriesRequest(), admin2, cancellationToken: Ct);
        Assert.Equal(["default_cluster/open", "team-p/hidden"], all.Repositories.Select(r => r.Name));
        Assert.False(all.Repositories.Single(r => r.Name == "team-p/hidden").Public);
        Assert.True(all.Repositories.Single(r => r.Name == "default_cluster/open").Public);
    }

    [Fact]
    public async Task A_build_run_pushes_to_the_registry_with_a_password_set()
    {
        Tools.Require("buildah", "buildah");
        await using var host = await StartAsync("reg-build");
        using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
        var runs = new BuildGrid.Builds.V1.BuildRuns.BuildRunsClient(channel);
        var admin = new Metadata { { "authorization", Basic("admin", Password).ToString() } };
        var spec = Runs.Script("echo building");
        spec.DockerBuild = new BuildGrid.Builds.V1.DockerBuild { Image = "team-build/app:r1", DockerfileContent = "FROM scratch\nLABEL built=yes\n", Context = "." };
        var run = await runs.StartRunAsync(new BuildGrid.Builds.V1.StartRunRequest { Spec = spec }, admin, cancellationToken: Ct);
        var done = await RunsWithCredentials.FinishedAsync(runs, run.Id, admin);
        var log = string.Join('\n', (await runs.ReadRunLogAsync(new BuildGrid.Builds.V1.ReadRunLogRequest { Id = run.Id, MaxLines = 10000 }, admin,
            cancellationToken: Ct)).Lines.Select(l => l.Text));
        Assert.True(done.State == BuildGrid.Builds.V1.RunState.Succeeded, $"{done.State} {done.FailureReason}\n{log}");
        Assert.DoesNotContain("eyJ", log, StringComparison.Ordinal);   // no token (a JWT starts so) in the log

        using var http = Client(host, Basic("admin", Password));
        var tags = JsonDocument.Parse(await http.GetStringAsync("/v2/team-build/app/tags/list", Ct)).RootElement;
        Assert.Equal(["r1"], tags.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
    }

    /// <summary>A clock shifted from the real one, to mint tokens that have already expired.</summary>
    sealed class ShiftedTime(TimeSpan shift) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + shift;
    }

    static class RunsWithCredentials
    {
        public static async Task<BuildGrid.Builds.V1.Run> FinishedAsync(BuildGrid.Builds.V1.BuildRuns.BuildRunsClient client, string id, Metadata credentials)
        {
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while (true)
            {
                var run = await client.GetRunAsync(new BuildGrid.Builds.V1.GetRunRequest { Id = id }, credentials, cancellationToken: Ct);
                if (run.State is BuildGrid.Builds.V1.RunState.Succeeded or BuildGrid.Builds.V1.RunState.Failed
                    or BuildGrid.Builds.V1.RunState.TimedOut or BuildGrid.Builds.V1.RunState.Cancelled || DateTime.UtcNow > deadline)
                    return run;
                await Task.Delay(100, Ct);
            }
        }
    }
}
