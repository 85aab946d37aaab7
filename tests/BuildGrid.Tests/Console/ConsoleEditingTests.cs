using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using BuildGrid.Identity.V1;
using BuildGrid.Tests.Infrastructure;
using RegistryClient = BuildGrid.Registry.V1.Registry.RegistryClient;

namespace BuildGrid.Tests.Console;

/// <summary>
/// The console's editing and overview parts over plain HTTP, signed in as the admin of a password-protected host, each
/// checked through the services' gRPC APIs: the dashboard's storage used and recent pushes (an image pushed through
/// /v2/), a manifest's referrers (an SBOM pushed with a subject), starring a repository and editing its description,
/// and changing, revoking and disabling a user's roles after the user was created.
/// </summary>
public sealed class ConsoleEditingTests(GuardedConsoleHost fixture) : IClassFixture<GuardedConsoleHost>
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    async Task<ConsoleClient> SignedInAsync()
    {
        var client = new ConsoleClient(fixture.Host.RestUrl);
        await client.SignInAsync("admin", GuardedConsoleHost.Password);
        return client;
    }

    [Fact]
    public async Task The_dashboard_shows_recent_pushes_and_storage_and_a_manifest_page_its_referrers()
    {
        var ns = ImageMarketApi.UniqueName("dash").Replace('-', '_');
        var repository = $"{ns}/app";
        using var registry = new HttpClient { BaseAddress = fixture.Host.RestUrl };
        registry.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{GuardedConsoleHost.Password}")));
        var layer = Encoding.UTF8.GetBytes(new string('x', 3000));
        var image = await PushImageAsync(registry, repository, "v1", layer);
        var sbom = await PushReferrerAsync(registry, repository, image);

        using var client = await SignedInAsync();
        var usage = await new RegistryClient(fixture.Channel).GetUsageAsync(new BuildGrid.Registry.V1.GetUsageRequest(), GuardedConsoleHost.Admin, cancellationToken: Ct);
        var dashboard = await client.PageAsync("/console/");
        Assert.Contains($"{repository}:v1</a>", dashboard);
        Assert.Contains($"ref={Uri.EscapeDataString(image.Digest)}", dashboard);
        Assert.True(usage.StoredBytes >= layer.Length, $"stored {usage.StoredBytes}");
        Assert.Contains(usage.RecentPushes, p => p.Repository == repository && p.Tag == "v1" && p.Digest == image.Digest);
        // The figure the page shows is the service's (nothing else writes to this host between the two reads).
        Assert.Contains($"<dd id=\"storage-used\">{WebUtility.HtmlEncode(BuildGrid.Gateway.Console.Format.Size(usage.StoredBytes))}</dd>", dashboard);

        var manifest = WebUtility.HtmlDecode(await client.PageAsync($"/console/registry/manifest?name={Uri.EscapeDataString(repository)}&ref={Uri.EscapeDataString(image.Digest)}"));
        Assert.Contains("id=\"referrers\"", manifest);
        Assert.Contains("application/spdx+json", manifest);
        Assert.Contains($"ref={Uri.EscapeDataString(sbom)}", manifest);
        Assert.Contains("org.example.kind=sbom", manifest);
    }

    [Fact]
    public async Task A_repository_is_starred_and_its_description_edited_as_text()
    {
        var ns = ImageMarketApi.UniqueName("edit").Replace('-', '_');
        var repository = $"{ns}/web";
        var registry = new RegistryClient(fixture.Channel);
        await registry.CreateRepositoryAsync(new BuildGrid.Registry.V1.CreateRepositoryRequest { Name = repository }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        using var client = await SignedInAsync();
        var page = $"/console/registry/repository?name={Uri.EscapeDataString(repository)}";

        using (var star = await client.PostFormAsync(page, page + "&handler=Star", [new("Star", "true")]))
            Assert.Equal(HttpStatusCode.Redirect, star.StatusCode);
        var read = await registry.GetRepositoryAsync(new BuildGrid.Registry.V1.GetRepositoryRequest { Name = repository }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        Assert.True(read.Starred);
        Assert.Contains(">Unstar</button>", await client.PageAsync(page));

        const string Description = "<b>Shop</b> front\nsecond line";
        using (var saved = await client.PostFormAsync(page, page + "&handler=Description", [new("Description", Description.Replace("\n", "\r\n"))]))
            Assert.Equal(HttpStatusCode.Redirect, saved.StatusCode);
        read = await registry.GetRepositoryAsync(new BuildGrid.Registry.V1.GetRepositoryRequest { Name = repository }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        Assert.Equal(Description, read.Description);
        var html = await client.PageAsync(page);
        Assert.Contains("&lt;b&gt;Shop&lt;/b&gt; front", html);
        Assert.DoesNotContain("<b>Shop</b>", html);

        // Too long a description is refused in words, and the stored one stays.
        using (var refused = await client.PostFormAsync(page, page + "&handler=Description", [new("Description", new string('d', 70_000))]))
        {
            Assert.NotEqual(HttpStatusCode.Redirect, refused.StatusCode);
            Assert.Contains("role=\"alert\"", await refused.Content.ReadAsStringAsync(Ct));
        }
        read = await registry.GetRepositoryAsync(new BuildGrid.Registry.V1.GetRepositoryRequest { Name = repository }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        Assert.Equal(Description, read.Description);

        using (var unstar = await client.PostFormAsync(page, page + "&handler=Star", [new("Star", "false")]))
            Assert.Equal(HttpStatusCode.Redirect, unstar.StatusCode);
        Assert.False((await registry.GetRepositoryAsync(new BuildGrid.Registry.V1.GetRepositoryRequest { Name = repository }, GuardedConsoleHost.Admin, cancellationToken: Ct)).Starred);
    }

    [Fact]
    public async Task A_users_roles_are_changed_and_revoked_and_the_user_disabled_after_creation()
    {
        var identity = new BuildGrid.Identity.V1.Identity.IdentityClient(fixture.Channel);
        var name = ImageMarketApi.UniqueName("member");
        var ns = ImageMarketApi.UniqueName("team").Replace('-', '_');
        await identity.CreateUserAsync(new CreateUserRequest { Name = name, Password = "member-pw-12345" }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        using var client = await SignedInAsync();
        async Task<User> UserAsync() => await identity.GetUserAsync(new GetUserRequest { Name = name }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        async Task PostAsync(string handler, params KeyValuePair<string, string>[] fields)
        {
            using var answer = await client.PostFormAsync("/console/users", "/console/users?handler=" + handler, [new("Principal", name), .. fields]);
            Assert.True(answer.StatusCode == HttpStatusCode.Redirect, $"{handler}: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync(Ct)}");
        }

        await PostAsync("Grant", KeyValuePair.Create("GrantNamespace", ns), KeyValuePair.Create("GrantRole", "2"));
        Assert.Equal(Role.Developer, (await UserAsync()).Roles[ns]);
        await PostAsync("Grant", KeyValuePair.Create("GrantNamespace", ns), KeyValuePair.Create("GrantRole", "3"));
        Assert.Equal(Role.Owner, (await UserAsync()).Roles[ns]);
        var users = WebUtility.HtmlDecode(await client.PageAsync("/console/users"));
        Assert.Contains($"{ns}: owner", users);   // the list shows each user's roles
        await PostAsync("Revoke", KeyValuePair.Create("GrantNamespace", ns));
        Assert.False((await UserAsync()).Roles.ContainsKey(ns));
        await PostAsync("Disable", KeyValuePair.Create("Disable", "true"));
        Assert.True((await UserAsync()).Disabled);

        // The disabled user can no longer sign in to the console.
        using var member = new ConsoleClient(fixture.Host.RestUrl);
        using var signIn = await member.PostFormAsync("/console/signin", "/console/signin", [new("UserName", name), new("Password", "member-pw-12345")]);
        Assert.NotEqual(HttpStatusCode.Redirect, signIn.StatusCode);
    }

    sealed record Pushed(string Digest, long Size);

    static string Sha256(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    static async Task PushBlobAsync(HttpClient registry, string repository, byte[] blob)
    {
        using var content = new ByteArrayContent(blob);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var answer = await registry.PostAsync($"/v2/{repository}/blobs/uploads/?digest={Sha256(blob)}", content, Ct);
        Assert.True(answer.StatusCode == HttpStatusCode.Created, $"blob: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync(Ct)}");
    }

    static async Task<Pushed> PutManifestAsync(HttpClient registry, string repository, string reference, string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.oci.image.manifest.v1+json");
        using var answer = await registry.PutAsync($"/v2/{repository}/manifests/{reference}", content, Ct);
        Assert.True(answer.StatusCode == HttpStatusCode.Created, $"manifest: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync(Ct)}");
        return new Pushed(Sha256(bytes), bytes.Length);
    }

    static async Task<Pushed> PushImageAsync(HttpClient registry, string repository, string tag, byte[] layer)
    {
        var config = Encoding.UTF8.GetBytes($$$"""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["{{{Sha256(layer)}}}"]}}""");
        await PushBlobAsync(registry, repository, layer);
        await PushBlobAsync(registry, repository, config);
        return await PutManifestAsync(registry, repository, tag, $$$"""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{{Sha256(config)}}}","size":{{{config.Length}}}},
             "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{{{Sha256(layer)}}}","size":{{{layer.Length}}}}]}
            """);
    }

    static async Task<string> PushReferrerAsync(HttpClient registry, string repository, Pushed subject)
    {
        var empty = "{}"u8.ToArray();
        var sbom = Encoding.UTF8.GetBytes("""{"spdxVersion":"SPDX-2.3"}""");
        await PushBlobAsync(registry, repository, empty);
        await PushBlobAsync(registry, repository, sbom);
        var json = $$$"""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json",
             "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{{{Sha256(empty)}}}","size":2},
             "layers":[{"mediaType":"application/spdx+json","digest":"{{{Sha256(sbom)}}}","size":{{{sbom.Length}}}}],
             "subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{{subject.Digest}}}","size":{{{subject.Size}}}},
             "annotations":{"org.example.kind":"sbom"}}
            """;
        return (await PutManifestAsync(registry, repository, Sha256(Encoding.UTF8.GetBytes(json)), json)).Digest;
    }
}
