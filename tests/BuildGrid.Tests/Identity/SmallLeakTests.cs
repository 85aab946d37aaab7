using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using BuildGrid.Identity.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Core;

namespace BuildGrid.Tests.Identity;

/// <summary>
/// What a caller without a role learns, on a host with an admin password: an image-market project it may not read is
/// answered exactly as a missing one (it used to be 10403 naming the cluster), and Harbor's current_user_role_id is the
/// caller's own role (it used to be 1, project admin, for everyone, anonymous included).
/// </summary>
public sealed class SmallLeakTests(GuardedHostFixture fixture) : IClassFixture<GuardedHostFixture>
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    static string BasicValue(string user, string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));
    static Metadata Admin => new() { { "authorization", BasicValue("admin", GuardedHostFixture.AdminPassword) } };

    HttpClient Http(string? authorization)
    {
        var http = new HttpClient { BaseAddress = fixture.Host.RestUrl };
        if (authorization is not null)
            http.DefaultRequestHeaders.Authorization = AuthenticationHeaderValue.Parse(authorization);
        return http;
    }

    async Task<string> UserAsync(string password)
    {
        var name = $"leak{Guid.NewGuid():N}"[..16];
        await fixture.Identity.CreateUserAsync(new CreateUserRequest { Name = name, Password = password }, Admin, cancellationToken: Ct);
        return name;
    }

    [Fact]
    public async Task An_image_market_project_the_caller_may_not_read_is_answered_as_a_missing_one()
    {
        using var admin = Http(BasicValue("admin", GuardedHostFixture.AdminPassword));
        var adminApi = new ImageMarketApi(admin);
        var cluster = $"secret{Guid.NewGuid():N}"[..14];
        var name = ImageMarketApi.UniqueName("hidden");
        Assert.Equal(10000, (await adminApi.PostJsonAsync("/api/project/new", new { projectName = name, Cluster = cluster })).Code);
        var missing = ImageMarketApi.UniqueName("absent");

        const string password = "outsider-Pa55word";
        var outsider = await UserAsync(password);
        using var http = Http(BasicValue(outsider, password));
        var api = new ImageMarketApi(http);
        var calls = new (string What, Func<string, Task<ImageMarketApi.Envelope>> Call)[]
        {
            ("info", n => api.InfoAsync(n)),
            ("build", n => api.PostJsonAsync("/api/project/build", new { projectName = n, tag = "1" })),
            ("delete", n => api.PostJsonAsync("/api/project/delete", new { projectName = n })),
            ("clone", n => api.PostJsonAsync("/api/project/clone", new { srcProjectName = n, dstProjectName = ImageMarketApi.UniqueName("copy") })),
        };
        foreach (var (what, call) in calls)
        {
            var hidden = await call(name);
            var absent = await call(missing);
            Assert.True(hidden.Code == absent.Code, $"{what}: {hidden.Code} {hidden.ErrMsg} for a hidden project, {absent.Code} for a missing one");
            Assert.Equal(absent.Status, hidden.Status);
            Assert.Equal(absent.ErrMsg.Replace(missing, name, StringComparison.Ordinal), hidden.ErrMsg);
            Assert.DoesNotContain(cluster, hidden.Root.GetRawText(), StringComparison.Ordinal);
        }
        // The project is still there, untouched.
        Assert.Equal(10000, (await adminApi.InfoAsync(name)).Code);
    }

    [Fact]
    public async Task Harbor_projects_report_the_callers_own_role()
    {
        var project = $"roles{Guid.NewGuid():N}"[..14];
        // A namespace appears with its first repository: a public one, so that callers without a role list it too.
        await new BuildGrid.Registry.V1.Registry.RegistryClient(fixture.Channel).CreateRepositoryAsync(
            new BuildGrid.Registry.V1.CreateRepositoryRequest { Name = project + "/app", Public = true }, Admin, cancellationToken: Ct);

        const string password = "harbor-Pa55word";
        var roles = new Dictionary<Role, int> { [Role.Owner] = 1, [Role.Developer] = 2, [Role.Guest] = 3 };
        foreach (var (role, harborId) in roles)
        {
            var user = await UserAsync(password);
            await fixture.Identity.GrantRoleAsync(new GrantRoleRequest { Namespace = project, Principal = user, Role = role }, Admin, cancellationToken: Ct);
            Assert.Equal(harborId, await RoleIdAsync(BasicValue(user, password), project));
        }
        Assert.Equal(1, await RoleIdAsync(BasicValue("admin", GuardedHostFixture.AdminPassword), project));
        // Without a role (a user with none, anonymous): no role, where the project is listed at all.
        Assert.True(await RoleIdAsync(BasicValue(await UserAsync(password), password), project) is null or 0);
        Assert.True(await RoleIdAsync(null, project) is null or 0);
    }

    /// <summary>The caller's current_user_role_id for the project in GET /projects; null when the list does not show it.</summary>
    async Task<int?> RoleIdAsync(string? authorization, string project)
    {
        using var http = Http(authorization);
        using var response = await http.GetAsync($"/projects?name={project}", Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}: {text}");
        var items = JsonDocument.Parse(text).RootElement.EnumerateArray().Where(p => p.GetProperty("name").GetString() == project).ToList();
        if (items.Count == 0)
            return null;
        return items[0].TryGetProperty("current_user_role_id", out var id) ? id.GetInt32() : 0;
    }
}
