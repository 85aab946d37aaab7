using System.Net;
using System.Net.Http.Headers;
using System.Text;
using BuildGrid.Core.Identity;
using BuildGrid.Projects.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;

namespace BuildGrid.Tests.Identity;

/// <summary>
/// Protected mode and the internal identity token: without an admin password on loopback, no credentials act as the
/// admin; with one, calls need credentials, wrong ones and forged identities are refused; a public address without a
/// password refuses to start.
/// </summary>
public sealed class ProtectedModeTests
{
    static Metadata Basic(string user, string password) =>
        new() { { "authorization", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")) } };

    [Fact]
    public async Task Without_an_admin_password_on_loopback_a_caller_without_credentials_is_the_admin()
    {
        await using var host = await OwnedHost.StartAsync("protected");
        using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
        var projects = new BuildGrid.Projects.V1.Projects.ProjectsClient(channel);
        var created = await projects.CreateProjectAsync(new CreateProjectRequest { Name = "open-door", Cluster = "default_cluster" },
            cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal("open-door", created.Name);

        // Wrong credentials are wrong even here.
        var wrong = await Assert.ThrowsAsync<RpcException>(() => projects.GetProjectAsync(
            new GetProjectRequest { Name = "open-door" }, Basic("admin", "guess"), cancellationToken: TestContext.Current.CancellationToken).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, wrong.StatusCode);
    }

    [Fact]
    public async Task With_an_admin_password_calls_need_credentials_and_forged_identities_are_refused()
    {
        await using var host = await OwnedHost.StartAsync("guarded", "--BUILDGRID_ADMIN_PASSWORD=s3cret-Pa55");
        using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
        var projects = new BuildGrid.Projects.V1.Projects.ProjectsClient(channel);
        var ct = TestContext.Current.CancellationToken;

        var anonymous = await Assert.ThrowsAsync<RpcException>(() => projects.CreateProjectAsync(
            new CreateProjectRequest { Name = "nobody", Cluster = "default_cluster" }, cancellationToken: ct).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, anonymous.StatusCode);

        var wrong = await Assert.ThrowsAsync<RpcException>(() => projects.CreateProjectAsync(
            new CreateProjectRequest { Name = "nobody", Cluster = "default_cluster" }, Basic("admin", "s3cret-Pa56"), cancellationToken: ct).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, wrong.StatusCode);

        // A caller cannot forge the identity one BuildGrid process hands the next: it is signed with the installation's key.
        var otherKey = new ServiceTokens(new IdentitySettings { ServiceKey = new byte[32] }, TimeProvider.System);
        var forged = new Metadata { { ServiceTokens.Header, otherKey.Sign(Principal.User("admin", isAdmin: true), "/buildgrid.projects.v1.Projects/CreateProject", null) } };
        var forgery = await Assert.ThrowsAsync<RpcException>(() => projects.CreateProjectAsync(
            new CreateProjectRequest { Name = "nobody", Cluster = "default_cluster" }, forged, cancellationToken: ct).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, forgery.StatusCode);

        var made = await projects.CreateProjectAsync(new CreateProjectRequest { Name = "somebody", Cluster = "default_cluster" },
            Basic("admin", "s3cret-Pa55"), cancellationToken: ct);
        Assert.Equal("admin", made.Creator);
        var none = await projects.ListProjectsAsync(new ListProjectsRequest(), Basic("admin", "s3cret-Pa55"), cancellationToken: ct);
        Assert.Equal(["somebody"], none.Projects.Select(p => p.Name));

        // REST without credentials is refused too, and nothing was written by the refused calls.
        using var http = new HttpClient { BaseAddress = host.RestUrl };
        using var rest = await http.GetAsync("/api/project/info?projectName=somebody", ct);
        var body = await rest.Content.ReadAsStringAsync(ct);
        Assert.DoesNotContain("\"code\":10000", body, StringComparison.Ordinal);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("admin:s3cret-Pa55"u8.ToArray()));
        using var allowed = await http.GetAsync("/api/project/info?projectName=somebody", ct);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Contains("\"code\":10000", await allowed.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Listening_beyond_loopback_without_an_admin_password_refuses_to_start()
    {
        var error = await Assert.ThrowsAnyAsync<InvalidOperationException>(() =>
            OwnedHost.StartAsync("exposed", "--BUILDGRID_REST_URL=http://0.0.0.0:0"));
        Assert.Contains(IdentitySettings.AdminPasswordSetting, error.Message, StringComparison.Ordinal);
    }
}
