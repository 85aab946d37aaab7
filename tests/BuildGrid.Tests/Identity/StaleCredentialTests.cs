using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using BuildGrid.Identity.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;
using IdentityClient = BuildGrid.Identity.V1.Identity.IdentityClient;

namespace BuildGrid.Tests.Identity;

/// <summary>A host with an admin password whose per-account failed-login ceiling is low enough to reach in a test.</summary>
public sealed class ThrottledHostFixture : IAsyncLifetime
{
    public const string AdminPassword = "Adm1n-throttled-tests";
    public const int PerAccountCeiling = 8;
    public OwnedHost Host { get; private set; } = null!;
    public GrpcChannel Channel { get; private set; } = null!;
    public IdentityClient Identity { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Host = await OwnedHost.StartAsync("throttled", $"--BUILDGRID_ADMIN_PASSWORD={AdminPassword}",
            $"--Identity:MaxFailedLoginsPerAccount={PerAccountCeiling}");
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
/// Registry tokens against the identity's current state, and the failed-login throttle, through /v2/ and every REST
/// door. A /v2/token bearer used to keep pushing for its whole lifetime after its user was deleted, its API token revoked
/// or its role taken away; five wrong passwords from anywhere locked the account for everyone. Clients at other addresses
/// connect from other loopback source addresses (127.0.0.2, 127.0.0.3) to the host on 127.0.0.1.
/// </summary>
public sealed class StaleCredentialTests(ThrottledHostFixture fixture) : IClassFixture<ThrottledHostFixture>
{
    static int counter;
    static string Unique(string prefix) => $"{prefix}{Environment.ProcessId % 1000}s{Interlocked.Increment(ref counter)}";
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
    static Metadata Admin => new() { { "authorization", Basic("admin", ThrottledHostFixture.AdminPassword).ToString() } };

    /// <summary>A client of the host whose connections come from <paramref name="source"/> (a loopback address).</summary>
    HttpClient Client(AuthenticationHeaderValue? authorization, string source = "127.0.0.1")
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        var http = new HttpClient(handler) { BaseAddress = fixture.Host.RestUrl };
        http.DefaultRequestHeaders.Authorization = authorization;
        return http;
    }

    async Task<string> CreateUserAsync(string password)
    {
        var name = Unique("user");
        await fixture.Identity.CreateUserAsync(new CreateUserRequest { Name = name, Password = password }, Admin, cancellationToken: Ct);
        return name;
    }

    async Task<string> PushTokenAsync(AuthenticationHeaderValue credentials, string repository)
    {
        using var http = Client(credentials);
        using var response = await http.GetAsync($"/v2/token?service=buildgrid&scope=repository:{repository}:pull,push", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("token").GetString()!;
    }

    async Task<HttpStatusCode> StartUploadAsync(string bearer, string repository)
    {
        using var http = Client(new AuthenticationHeaderValue("Bearer", bearer));
        using var response = await http.PostAsync($"/v2/{repository}/blobs/uploads/", null, Ct);
        if (response.Headers.Location is { } location)
            using (await http.DeleteAsync(location, Ct)) { }
        return response.StatusCode;
    }

    /// <summary>How long, from now, until pushing with <paramref name="bearer"/> is refused (fails past 10 s).</summary>
    async Task<TimeSpan> UntilRefusedAsync(string bearer, string repository)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (await StartUploadAsync(bearer, repository) == HttpStatusCode.Accepted)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "the token still pushes 10 s after its credential was revoked");
            await Task.Delay(200, Ct);
        }
        return clock.Elapsed;
    }

    async Task<(string User, string Password, string Repository)> DeveloperAsync()
    {
        var password = "dev-Pa55word-" + Guid.NewGuid().ToString("N")[..8];
        var user = await CreateUserAsync(password);
        var ns = Unique("ns");
        await fixture.Identity.GrantRoleAsync(new GrantRoleRequest { Namespace = ns, Principal = user, Role = Role.Developer }, Admin, cancellationToken: Ct);
        return (user, password, $"{ns}/app");
    }

    [Fact]
    public async Task A_registry_token_stops_pushing_within_seconds_of_its_user_being_deleted()
    {
        var (user, password, repository) = await DeveloperAsync();
        var bearer = await PushTokenAsync(Basic(user, password), repository);
        Assert.Equal(HttpStatusCode.Accepted, await StartUploadAsync(bearer, repository));
        await fixture.Identity.DeleteUserAsync(new DeleteUserRequest { Name = user }, Admin, cancellationToken: Ct);
        Assert.InRange(await UntilRefusedAsync(bearer, repository), TimeSpan.Zero, TimeSpan.FromSeconds(6.5));
        Assert.Equal(HttpStatusCode.Unauthorized, await StartUploadAsync(bearer, repository));
    }

    [Fact]
    public async Task A_registry_token_stops_pushing_within_seconds_of_its_role_being_revoked()
    {
        var (user, password, repository) = await DeveloperAsync();
        var bearer = await PushTokenAsync(Basic(user, password), repository);
        Assert.Equal(HttpStatusCode.Accepted, await StartUploadAsync(bearer, repository));
        await fixture.Identity.RevokeRoleAsync(new RevokeRoleRequest { Namespace = repository.Split('/')[0], Principal = user }, Admin, cancellationToken: Ct);
        Assert.InRange(await UntilRefusedAsync(bearer, repository), TimeSpan.Zero, TimeSpan.FromSeconds(6.5));
    }

    [Fact]
    public async Task A_registry_token_got_with_an_api_token_stops_when_that_token_is_revoked_but_not_another()
    {
        var (user, _, repository) = await DeveloperAsync();
        var revoked = await fixture.Identity.CreateTokenAsync(new CreateTokenRequest { Name = "ci", User = user }, Admin, cancellationToken: Ct);
        var kept = await fixture.Identity.CreateTokenAsync(new CreateTokenRequest { Name = "other", User = user }, Admin, cancellationToken: Ct);
        var doomed = await PushTokenAsync(Basic(user, revoked.Secret), repository);
        var survivor = await PushTokenAsync(Basic(user, kept.Secret), repository);
        Assert.Equal(HttpStatusCode.Accepted, await StartUploadAsync(doomed, repository));
        await fixture.Identity.RevokeTokenAsync(new RevokeTokenRequest { Id = revoked.Token.Id }, Admin, cancellationToken: Ct);
        Assert.InRange(await UntilRefusedAsync(doomed, repository), TimeSpan.Zero, TimeSpan.FromSeconds(6.5));
        Assert.Equal(HttpStatusCode.Accepted, await StartUploadAsync(survivor, repository));
    }

    [Fact]
    public async Task A_registry_token_got_with_a_password_stops_when_the_password_changes()
    {
        var (user, password, repository) = await DeveloperAsync();
        var bearer = await PushTokenAsync(Basic(user, password), repository);
        await fixture.Identity.UpdateUserAsync(new UpdateUserRequest { Name = user, Password = "changed-Pa55word" }, Admin, cancellationToken: Ct);
        Assert.InRange(await UntilRefusedAsync(bearer, repository), TimeSpan.Zero, TimeSpan.FromSeconds(6.5));
    }

    [Fact]
    public async Task Wrong_passwords_from_elsewhere_do_not_lock_out_the_account_here()
    {
        var password = "victim-Pa55word";
        var victim = await CreateUserAsync(password);
        using var attacker = Client(Basic(victim, "wrong-guess"), source: "127.0.0.2");
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 7; i++)
        {
            using var response = await attacker.GetAsync("/v2/", Ct);
            statuses.Add(response.StatusCode);
        }
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
        // The attacker's own address stays locked, even with the right password...
        using var lockedHere = Client(Basic(victim, password), source: "127.0.0.2");
        using (var response = await lockedHere.GetAsync("/v2/", Ct))
            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        // ...while the victim, at its own address, logs in as ever: on /v2/ and on REST.
        using var owner = Client(Basic(victim, password));
        using (var response = await owner.GetAsync("/v2/", Ct))
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using (var response = await owner.GetAsync("/buildgrid/v1/me", Ct))
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Failures_spread_over_many_addresses_reach_the_account_ceiling_and_lock_it_for_everyone()
    {
        var password = "ceiling-Pa55word";
        var victim = await CreateUserAsync(password);
        // Four failures from each of two addresses: below the per-address lock (5), at the account's ceiling (8).
        foreach (var source in new[] { "127.0.0.2", "127.0.0.3" })
        {
            using var attacker = Client(Basic(victim, "wrong-guess"), source);
            for (var i = 0; i < ThrottledHostFixture.PerAccountCeiling / 2; i++)
            {
                using var response = await attacker.GetAsync("/v2/", Ct);
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            }
        }
        using var owner = Client(Basic(victim, password));
        using var refused = await owner.GetAsync("/v2/", Ct);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task A_locked_login_is_429_in_every_dialect_never_5xx()
    {
        var password = "dialect-Pa55word";
        var user = await CreateUserAsync(password);
        using var attacker = Client(Basic(user, "wrong-guess"));
        for (var i = 0; i < 5; i++)
            using (await attacker.GetAsync("/v2/", Ct)) { }
        using var http = Client(Basic(user, password));
        var doors = new (HttpMethod Method, string Path)[]
        {
            (HttpMethod.Get, "/v2/"),
            (HttpMethod.Get, "/buildgrid/v1/me"),
            (HttpMethod.Get, "/projects"),                         // Harbor
            (HttpMethod.Get, "/api/v1/repository?namespace=x"),    // Quay
            (HttpMethod.Get, "/openapi/build"),                    // Zadig
            (HttpMethod.Get, "/api/project/list"),                 // image market
            (HttpMethod.Post, "/api/public/admin/server/containers"), // Svacer
        };
        foreach (var (method, path) in doors)
        {
            using var request = new HttpRequestMessage(method, path);
            if (method == HttpMethod.Post)
                request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
            using var response = await http.SendAsync(request, Ct);
            var body = await response.Content.ReadAsStringAsync(Ct);
            Assert.True(response.StatusCode == HttpStatusCode.TooManyRequests, $"{method} {path}: {(int)response.StatusCode} {body}");
            Assert.True(response.Headers.RetryAfter?.Delta is { TotalSeconds: > 0 }, $"{method} {path}: no Retry-After");
            using var json = JsonDocument.Parse(body);   // the dialect's JSON error, not an empty or HTML page
        }
    }
}

/// <summary>
/// The bound on concurrent password hashing: a flood of logins with random names is refused fast (429 with Retry-After)
/// beyond <c>Identity:MaxConcurrentPasswordChecks</c>, never a 5xx, and an unknown name is answered like a wrong password.
/// </summary>
public sealed class PasswordCheckBoundTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    [Fact]
    public async Task A_flood_of_random_logins_beyond_the_bound_is_refused_fast_with_429()
    {
        await using var host = await OwnedHost.StartAsync("pbkdf2", "--BUILDGRID_ADMIN_PASSWORD=Adm1n-bound-tests",
            "--Identity:MaxConcurrentPasswordChecks=1", "--Identity:PasswordCheckWait=00:00:00");
        using var http = new HttpClient { BaseAddress = host.RestUrl };
        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(async i =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v2/");
            request.Headers.Authorization = Basic($"nobody{i}-{Guid.NewGuid():N}", "random-guess");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using var response = await http.SendAsync(request, Ct);
            return (response.StatusCode, response.Headers.RetryAfter?.Delta, clock.Elapsed);
        }));
        Assert.All(results, r => Assert.True(r.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.TooManyRequests, $"{r.StatusCode}"));
        var refused = results.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(refused);
        Assert.Contains(results, r => r.StatusCode == HttpStatusCode.Unauthorized);
        Assert.All(refused, r => Assert.Equal(TimeSpan.FromSeconds(1), r.Delta));

        // One at a time, unknown names and wrong passwords of a real user answer alike (401), with the same hash work.
        using var known = new HttpRequestMessage(HttpMethod.Get, "/v2/") { Headers = { Authorization = Basic("admin", "wrong-guess") } };
        using var unknown = new HttpRequestMessage(HttpMethod.Get, "/v2/") { Headers = { Authorization = Basic("no-such-user", "wrong-guess") } };
        using var knownResponse = await http.SendAsync(known, Ct);
        using var unknownResponse = await http.SendAsync(unknown, Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, knownResponse.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, unknownResponse.StatusCode);
        Assert.Equal(await knownResponse.Content.ReadAsStringAsync(Ct), await unknownResponse.Content.ReadAsStringAsync(Ct));
    }
}
