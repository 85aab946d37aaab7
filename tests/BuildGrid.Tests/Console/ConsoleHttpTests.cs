using System.Diagnostics;
using System.Net;
using System.Text;
using BuildGrid.Identity.V1;
using BuildGrid.Projects.V1;
using BuildGrid.Registry.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;

namespace BuildGrid.Tests.Console;

/// <summary>A host with an admin password (not protected mode): the console must be signed into.</summary>
public sealed class GuardedConsoleHost : IAsyncLifetime
{
    public const string Password = "console-admin-pw-1";
    public OwnedHost Host { get; private set; } = null!;
    public GrpcChannel Channel { get; private set; } = null!;

    public static Metadata Admin => new() { { "authorization", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{Password}")) } };

    public async ValueTask InitializeAsync()
    {
        Host = await OwnedHost.StartAsync("console", $"--BUILDGRID_ADMIN_PASSWORD={Password}");
        Channel = GrpcChannel.ForAddress(Host.GrpcUrl);
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await Host.DisposeAsync();
    }
}

/// <summary>The console over plain HTTP: sign-in, sessions, CSRF, headers, encoding, what a caller may see.</summary>
public sealed class ConsoleHttpTests(GuardedConsoleHost fixture) : IClassFixture<GuardedConsoleHost>
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    ConsoleClient NewClient() => new(fixture.Host.RestUrl);

    [Fact]
    public async Task A_page_without_a_session_leads_to_sign_in_and_every_answer_carries_a_strict_CSP()
    {
        using var client = NewClient();
        using var page = await client.GetAsync("/console/projects?q=a");
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        Assert.Equal("/console/signin?ReturnUrl=%2Fconsole%2Fprojects%3Fq%3Da", page.Headers.Location!.PathAndQuery);
        using var root = await client.GetAsync("/");
        Assert.Equal("/console/", root.Headers.Location!.OriginalString);

        using var signIn = await client.GetAsync("/console/signin");
        var html = await signIn.Content.ReadAsStringAsync(Ct);
        var csp = string.Join(";", signIn.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'self'", csp);
        Assert.Contains("script-src 'self'", csp);
        Assert.Contains("frame-ancestors 'none'", csp);
        Assert.DoesNotContain("unsafe-inline", csp);
        Assert.Equal("nosniff", signIn.Headers.GetValues("X-Content-Type-Options").Single());
        // No inline script or style for the CSP to refuse: every script has a src, no element a style attribute.
        Assert.DoesNotContain("<script>", html);
        Assert.DoesNotContain(" style=", html);
        Assert.DoesNotContain("<style", html);
        // The session cookie is not set before sign-in; the antiforgery cookie is HTTP-only and SameSite=Strict.
        var setCookies = signIn.Headers.GetValues("Set-Cookie").ToList();
        Assert.Contains(setCookies, c => c.StartsWith("buildgrid.console.csrf=", StringComparison.Ordinal) && c.Contains("httponly") && c.Contains("samesite=strict"));

        // Assets: local, versioned by content hash and then cached as immutable; without the version, revalidated.
        var script = System.Text.RegularExpressions.Regex.Match(html, "src=\"(?<url>/console/assets/console.js\\?v=[0-9a-f]+)\"").Groups["url"].Value;
        Assert.NotEqual("", script);
        using var versioned = await client.GetAsync(script);
        Assert.Equal(HttpStatusCode.OK, versioned.StatusCode);
        Assert.Equal("public, max-age=31536000, immutable", versioned.Headers.CacheControl!.ToString());
        Assert.StartsWith("text/javascript", versioned.Content.Headers.ContentType!.ToString());
        using var plain = await client.GetAsync("/console/assets/console.js");
        Assert.Equal("no-cache", plain.Headers.CacheControl!.ToString());
        using var again = new HttpClient { BaseAddress = fixture.Host.RestUrl };
        using var conditional = new HttpRequestMessage(HttpMethod.Get, "/console/assets/console.js");
        conditional.Headers.TryAddWithoutValidation("If-None-Match", plain.Headers.ETag!.ToString());
        Assert.Equal(HttpStatusCode.NotModified, (await again.SendAsync(conditional, Ct)).StatusCode);
    }

    [Fact]
    public async Task Wrong_credentials_are_refused_in_words_and_start_no_session()
    {
        using var client = NewClient();
        using var response = await client.PostFormAsync("/console/signin", "/console/signin", [new("UserName", "admin"), new("Password", "wrong")]);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("The user name and password, or the token, are wrong, expired or revoked.", await response.Content.ReadAsStringAsync(Ct));
        Assert.DoesNotContain(client.Cookies.GetAllCookies(), c => c.Name == "buildgrid.console");
        using var page = await client.GetAsync("/console/");
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
    }

    [Fact]
    public async Task A_write_without_the_antiforgery_token_is_refused_with_400_and_changes_nothing()
    {
        using var client = NewClient();
        await client.SignInAsync("admin", GuardedConsoleHost.Password);
        var name = ImageMarketApi.UniqueName("csrf-token");
        using var forged = await client.PostFormAsync("/console/identity", "/console/identity?handler=CreateToken", [new("TokenName", name)], withToken: false);
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        var identity = new BuildGrid.Identity.V1.Identity.IdentityClient(fixture.Channel);
        Assert.DoesNotContain((await identity.ListTokensAsync(new ListTokensRequest(), GuardedConsoleHost.Admin, cancellationToken: Ct)).Tokens, t => t.Name == name);

        // With the page's token the same form works, and shows the secret once.
        using var real = await client.PostFormAsync("/console/identity", "/console/identity?handler=CreateToken", [new("TokenName", name)]);
        var html = await real.Content.ReadAsStringAsync(Ct);
        Assert.Equal(HttpStatusCode.OK, real.StatusCode);
        Assert.Contains("no-store", real.Headers.CacheControl!.ToString());
        var secret = System.Text.RegularExpressions.Regex.Match(html, "id=\"secret-value\" class=\"pull\" readonly value=\"(?<s>[^\"]+)\"").Groups["s"].Value;
        Assert.NotEqual("", secret);
        var caller = await identity.GetCallerAsync(new GetCallerRequest(), new Metadata { { "authorization", "Bearer " + secret } }, cancellationToken: Ct);
        Assert.Equal("admin", caller.Name);
        Assert.DoesNotContain(secret, await client.PageAsync("/console/identity"));
    }

    [Fact]
    public async Task Signing_out_revokes_the_session_so_a_copied_cookie_is_worth_nothing()
    {
        using var client = NewClient();
        await client.SignInAsync("admin", GuardedConsoleHost.Password);
        var session = client.Cookies.GetAllCookies().Single(c => c.Name == "buildgrid.console");
        Assert.True(session.HttpOnly);
        Assert.Contains("Dashboard", await client.PageAsync("/console/"));
        using (var signOut = await client.PostFormAsync("/console/", "/console/signout", []))
            Assert.Equal(HttpStatusCode.Redirect, signOut.StatusCode);

        using var replay = new ConsoleClient(fixture.Host.RestUrl);
        replay.Cookies.Add(fixture.Host.RestUrl, new Cookie(session.Name, session.Value, "/console"));
        // The gateway trusts a checked credential for up to IdentityCredentialValidator.CacheFor (5 s): within that, the
        // revoked session token stops working, and the console ends the session and asks for sign-in.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        HttpResponseMessage page;
        while (true)
        {
            page = await replay.GetAsync("/console/runs");
            if (page.StatusCode == HttpStatusCode.Redirect || DateTime.UtcNow > deadline)
                break;
            page.Dispose();
            await Task.Delay(200, Ct);
        }
        using (page)
        {
            Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
            Assert.StartsWith("/console/signin", page.Headers.Location!.OriginalString);
            Assert.Contains("expired=1", page.Headers.Location!.OriginalString);
        }
    }

    [Fact]
    public async Task Markup_in_names_and_descriptions_renders_as_text()
    {
        var registry = new BuildGrid.Registry.V1.Registry.RegistryClient(fixture.Channel);
        var ns = ImageMarketApi.UniqueName("markup").Replace('-', '_');
        var repository = $"{ns}/app";
        await registry.CreateRepositoryAsync(new CreateRepositoryRequest { Name = repository, Description = "<script>alert('owned')</script><b>bold</b>" },
            GuardedConsoleHost.Admin, cancellationToken: Ct);
        using var client = NewClient();
        await client.SignInAsync("admin", GuardedConsoleHost.Password);
        foreach (var path in new[] { $"/console/registry/repository?name={Uri.EscapeDataString(repository)}", $"/console/registry/{ns}" })
        {
            var html = await client.PageAsync(path);
            Assert.Contains("&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;", html);
            Assert.DoesNotContain("<script>alert", html);
            Assert.DoesNotContain("<b>bold", html);
        }
        // A name that the services refuse comes back as words, not as markup or a 500.
        var missing = await client.GetAsync("/console/projects/%3Cscript%3Ex%3C%2Fscript%3E");
        var body = await missing.Content.ReadAsStringAsync(Ct);
        Assert.True(missing.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.BadRequest, $"{missing.StatusCode}: {body}");
        Assert.DoesNotContain("<script>x", body);
        Assert.Contains("class=\"problem\" role=\"alert\"", body);
    }

    [Fact]
    public async Task A_user_without_the_admin_role_is_told_in_words_what_it_may_not_see()
    {
        var identity = new BuildGrid.Identity.V1.Identity.IdentityClient(fixture.Channel);
        var user = ImageMarketApi.UniqueName("guest").Replace('-', '_');
        await identity.CreateUserAsync(new CreateUserRequest { Name = user, Password = "guest-password-1" }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        var ns = ImageMarketApi.UniqueName("guestns").Replace('-', '_');
        var repository = $"{ns}/app";
        var hidden = $"{ImageMarketApi.UniqueName("hidden").Replace('-', '_')}/app";
        var registry = new BuildGrid.Registry.V1.Registry.RegistryClient(fixture.Channel);
        await registry.CreateRepositoryAsync(new CreateRepositoryRequest { Name = repository }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        await registry.CreateRepositoryAsync(new CreateRepositoryRequest { Name = hidden }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        await identity.GrantRoleAsync(new GrantRoleRequest { Namespace = ns, Principal = user, Role = BuildGrid.Identity.V1.Role.Guest },
            GuardedConsoleHost.Admin, cancellationToken: Ct);
        using var client = NewClient();
        await client.SignInAsync(user, "guest-password-1");
        var dashboard = await client.PageAsync("/console/");
        Assert.DoesNotContain("href=\"/console/users\"", dashboard);   // not offered
        Assert.Contains(user, dashboard);
        using var users = await client.GetAsync("/console/users");
        Assert.Equal(HttpStatusCode.Forbidden, users.StatusCode);
        Assert.Contains("Not allowed:", await users.Content.ReadAsStringAsync(Ct));

        // A guest reads its namespace's repository but is offered no owner's write; made anyway, the service refuses it.
        var page = $"/console/registry/repository?name={Uri.EscapeDataString(repository)}";
        var html = await client.PageAsync(page);
        Assert.Contains($"Repository {repository}", html);
        Assert.DoesNotContain("handler=Visibility", html);
        using (var forced = await client.PostFormAsync(page, page + "&handler=Visibility", [new("MakePublic", "true")]))
            Assert.Contains("Not allowed:", await forced.Content.ReadAsStringAsync(Ct));
        Assert.False((await registry.GetRepositoryAsync(new GetRepositoryRequest { Name = repository }, GuardedConsoleHost.Admin, cancellationToken: Ct)).Public);
        // Another namespace's private repository does not exist for it.
        using var other = await client.GetAsync($"/console/registry/repository?name={Uri.EscapeDataString(hidden)}");
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        Assert.DoesNotContain(hidden, await client.PageAsync("/console/registry"));
    }
}

/// <summary>
/// The projects page with 1,000 projects, in protected mode (the console's "continue as the local admin"): the page
/// pages (50 a page) and stays small; its server time is measured and written to the test output.
/// </summary>
public sealed class ConsoleScaleTests(ITestOutputHelper output)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_projects_page_with_1000_projects_pages_and_stays_small()
    {
        await using var host = await OwnedHost.StartAsync("console-scale");
        using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
        var projects = new BuildGrid.Projects.V1.Projects.ProjectsClient(channel);
        var created = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, 1000), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = Ct }, async (i, ct) =>
            await projects.CreateProjectAsync(new CreateProjectRequest { Name = $"scale-{i:D4}", Cluster = $"team_{i % 10}" }, cancellationToken: ct));
        output.WriteLine($"created 1000 projects in {created.ElapsedMilliseconds} ms");

        using var client = new ConsoleClient(host.RestUrl);
        using (var local = await client.PostFormAsync("/console/signin", "/console/signin?handler=Local", []))
            Assert.Equal(HttpStatusCode.Redirect, local.StatusCode);
        var first = await client.PageAsync("/console/projects");
        Assert.Contains("1000 projects", first);
        Assert.Contains("Page 1 of 20", first);
        Assert.Equal(50, System.Text.RegularExpressions.Regex.Count(first, "<a href=\"/console/projects/scale-"));
        Assert.Contains("Protected mode:", first);

        foreach (var path in new[] { "/console/projects", "/console/projects?page=17", "/console/projects?q=scale-09" })
        {
            var times = new List<double>();
            long bytes = 0;
            for (var i = 0; i < 40; i++)
            {
                var watch = Stopwatch.StartNew();
                using var response = await client.GetAsync(path);
                var body = await response.Content.ReadAsByteArrayAsync(Ct);
                times.Add(watch.Elapsed.TotalMilliseconds);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                bytes = body.Length;
            }
            times.Sort();
            var warm = times.Skip(5).ToList();  // the first requests compile and warm up
            output.WriteLine($"{path}: p50 {warm[warm.Count / 2]:0.0} ms, p95 {warm[(int)(warm.Count * 0.95)]:0.0} ms, {bytes / 1024.0:0.0} KiB");
            Assert.True(bytes < 300 * 1024, $"{path} is {bytes} bytes");
        }
    }
}
