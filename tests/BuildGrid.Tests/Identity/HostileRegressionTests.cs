using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using BuildGrid.Identity.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace BuildGrid.Tests.Identity;

/// <summary>
/// Regressions found by the hostile campaign's caller profiles (tests/BuildGrid.Hostile.Tests) on a host with an admin
/// password: each was a 500 (or a host error) before its fix.
/// </summary>
public sealed class HostileRegressionTests(GuardedHostFixture fixture) : IClassFixture<GuardedHostFixture>
{
    static int counter;
    static string Unique(string prefix) => $"{prefix}{Environment.ProcessId % 1000}h{Interlocked.Increment(ref counter)}";
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    static string BasicValue(string user, string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));
    static Metadata Admin => new() { { "authorization", BasicValue("admin", GuardedHostFixture.AdminPassword) } };

    HttpClient AdminHttp()
    {
        var http = new HttpClient { BaseAddress = fixture.Host.RestUrl };
        http.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", BasicValue("admin", GuardedHostFixture.AdminPassword));
        return http;
    }

    [Fact]
    public async Task Identity_writes_through_the_REST_routes_are_audited_without_an_HTTP_context()
    {
        // The gateway calls Identity in process: its audit record used to ask for the call's HttpContext and throw (500).
        using var http = AdminHttp();
        var name = Unique("rest");
        using var created = await http.PostAsync("/buildgrid/v1/users", new StringContent(
            $$"""{"name":"{{name}}","password":"rest-Pa55word","email":"{{name}}@example.com"}""", Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        using var deleted = await http.DeleteAsync($"/buildgrid/v1/users/{name}", Ct);
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        using var gone = await http.DeleteAsync($"/buildgrid/v1/users/{name}", Ct);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task Timestamps_out_of_range_are_invalid_arguments()
    {
        var identity = fixture.Identity;
        var token = await Assert.ThrowsAsync<RpcException>(() => identity.CreateTokenAsync(new CreateTokenRequest
        {
            Name = "ci", User = "admin", ExpireTime = new Timestamp { Seconds = long.MaxValue },
        }, Admin, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, token.StatusCode);
        var audit = await Assert.ThrowsAsync<RpcException>(() => identity.ListAuditEntriesAsync(new ListAuditEntriesRequest
        {
            StartTime = new Timestamp { Seconds = 0, Nanos = -1 },
        }, Admin, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, audit.StatusCode);
    }

    [Fact]
    public async Task The_failed_login_throttle_is_429_on_v2_not_500()
    {
        var name = Unique("locked");
        await fixture.Identity.CreateUserAsync(new CreateUserRequest { Name = name, Password = "locked-Pa55word" }, Admin, cancellationToken: Ct);
        using var http = new HttpClient { BaseAddress = fixture.Host.RestUrl };
        var statuses = new List<HttpStatusCode>();
        TimeSpan? retryAfter = null;
        for (var i = 0; i < 8; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v2/team/app/tags/list");
            request.Headers.TryAddWithoutValidation("Authorization", BasicValue(name, "wrong-password"));
            using var response = await http.SendAsync(request, Ct);
            statuses.Add(response.StatusCode);
            retryAfter = response.Headers.RetryAfter?.Delta;
        }
        Assert.All(statuses, s => Assert.True(s is HttpStatusCode.Unauthorized or HttpStatusCode.TooManyRequests, $"{string.Join(", ", statuses)}"));
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
        // The client is told how long the lock lasts (30 s for a first lock-out) in Retry-After, as RFC 6585 suggests.
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value.TotalSeconds, 1, 30);
    }

    [Fact]
    public async Task A_Zadig_error_quoting_a_huge_value_still_fits_in_the_grpc_trailers()
    {
        // The 1 MB "source" used to be quoted whole in grpc-message: the client could not read the answer (Unavailable).
        var zadig = new BuildGrid.Gateway.Zadig.V1.Zadig.ZadigClient(fixture.Channel);
        var refused = await Assert.ThrowsAsync<RpcException>(() => zadig.CreateBuildAsync(new BuildGrid.Gateway.Zadig.V1.CreateBuildRequest
        {
            ProjectKey = "demo", Source = new string('s', 1 << 20),
        }, Admin, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.True(refused.Status.Detail.Length <= 1100, $"{refused.Status.Detail.Length} characters");
    }

    [Fact]
    public async Task Quay_errors_quoting_a_huge_value_still_fit_in_the_grpc_trailers_and_on_rest()
    {
        // The campaign found both: the facade's own messages quote repo_kind and the notification uuid whole.
        var huge = new string('k', 1 << 20);
        var quay = new BuildGrid.Gateway.Quay.V1.Quay.QuayClient(fixture.Channel);
        foreach (var call in new Func<Task>[]
        {
            () => quay.ListRepositoriesAsync(new BuildGrid.Gateway.Quay.V1.ListRepositoriesRequest { Public = true, RepoKind = huge }, Admin, cancellationToken: Ct).ResponseAsync,
            () => quay.DeleteNotificationAsync(new BuildGrid.Gateway.Quay.V1.NotificationRef { Repository = "default_cluster/none", Uuid = huge }, Admin, cancellationToken: Ct).ResponseAsync,
        })
        {
            var refused = await Assert.ThrowsAsync<RpcException>(call);
            Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
            Assert.True(refused.Status.Detail.Length <= 1100, $"{refused.Status.Detail.Length} characters");
        }
        using var http = AdminHttp();
        using var rest = await http.GetAsync("/api/v1/repository?public=true&repo_kind=" + new string('k', 6000), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, rest.StatusCode);
        var detail = JsonDocument.Parse(await rest.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("detail").GetString()!;
        Assert.StartsWith("'kkk", detail, StringComparison.Ordinal);
        Assert.True(detail.Length <= 1100, $"{detail.Length} characters");
    }

    [Fact]
    public async Task A_malformed_chunked_body_on_a_REST_route_is_400_not_500()
    {
        using var client = new TcpClient();
        await client.ConnectAsync(fixture.Host.RestUrl.Host, fixture.Host.RestUrl.Port, Ct);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.Latin1.GetBytes(
            "POST /buildgrid/v1/code-hosts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n"), Ct);
        var buffer = new byte[4096];
        var read = await stream.ReadAsync(buffer, Ct);
        var answer = Encoding.Latin1.GetString(buffer, 0, read);
        Assert.StartsWith("HTTP/1.1 400", answer, StringComparison.Ordinal);
    }
}
