using System.Text.Json.Nodes;
using BuildGrid.Hostile.Tests.Campaign;
using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;

namespace BuildGrid.Hostile.Tests;

/// <summary>
/// One standalone host for the whole campaign, with its own data directory. No build workers: a hostile request that is
/// accepted may queue a build whose repository points anywhere, and no test leaves the loopback interface.
/// </summary>
public sealed class CampaignHost : IAsyncLifetime
{
    WebApplication? app;

    public string DataDir { get; } = TestDirectories.Create("hostile");
    public ErrorLog Errors { get; } = new();
    public Uri RestUrl { get; private set; } = null!;
    public HttpClient Rest { get; private set; } = null!;
    public GrpcChannel Channel { get; private set; } = null!;
    public CampaignRunner Runner { get; private set; } = null!;

    /// <summary>A client carrying the admin's Basic credentials, for set-up and the planted-data checks.</summary>
    public HttpClient AdminRest { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Uri grpcUrl;
        (app, RestUrl, grpcUrl) = await StartAsync(DataDir, Errors, ["--Builds:Workers=0", .. CallerProfile.HostSettings]);
        Rest = new HttpClient { BaseAddress = RestUrl, Timeout = TimeSpan.FromSeconds(30) };
        AdminRest = new HttpClient { BaseAddress = RestUrl, Timeout = TimeSpan.FromSeconds(30) };
        AdminRest.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", CallerProfile.Admin.Authorization);
        Channel = GrpcChannel.ForAddress(grpcUrl, new GrpcChannelOptions { MaxReceiveMessageSize = 64 << 20 });
        Runner = new CampaignRunner(DataDir, HealthyAsync);
        try
        {
            await SetUpIdentityAndPrivateDataAsync();
        }
        catch (Exception e)
        {
            var errors = new List<string>();
            while (Errors.TryTake(out var entry))
                errors.Add(entry);
            throw new InvalidOperationException("set-up failed; the host logged:\n" + string.Join("\n", errors.Take(5)), e);
        }
    }

    async Task SetUpIdentityAndPrivateDataAsync()
    {
        // The guest: a real user with the guest role in a namespace other than the private data's.
        var identity = new BuildGrid.Identity.V1.Identity.IdentityClient(Channel);
        var admin = CallerProfile.Admin.Metadata();
        await identity.CreateUserAsync(new() { Name = CallerProfile.GuestUser, Password = CallerProfile.GuestPassword, Email = "guest@example.com" }, admin);
        await identity.CreateUserAsync(new() { Name = CallerProfile.WrongUser, Password = CallerProfile.WrongUserPassword, Email = "wrong@example.com" }, admin);
        await identity.GrantRoleAsync(new() { Namespace = CallerProfile.GuestNamespace, Principal = CallerProfile.GuestUser, Role = BuildGrid.Identity.V1.Role.Guest }, admin);
        await PlantAsync(CancellationToken.None);
    }

    static Task<(WebApplication, Uri, Uri)> StartAsync(string dataDir, ErrorLog errors, string[] extra) => StandaloneFixture.StartAsync(dataDir, errors, extra);

    /// <summary>
    /// Private data for the caller-profile checks, all in <see cref="CallerProfile.PrivateNamespace"/> and carrying the
    /// marker: a private Quay repository's description, a tag of that repository (pushed over /v2/), a project's Dockerfile.
    /// Idempotent: each test plants again (the admin's accepted hostile writes may have changed it), then checks that the
    /// admin sees the marker in each place, so that the leak checks are not vacuous.
    /// </summary>
    public async Task PlantAsync(CancellationToken ct)
    {
        const string repository = CallerProfile.PrivateNamespace + "/private";
        using (var created = await AdminRest.PostAsync("/api/v1/repository", Json(
            $$"""{"namespace":"{{CallerProfile.PrivateNamespace}}","repository":"private","visibility":"private","description":"{{CallerProfile.PrivateMarker}}","repo_kind":"image"}"""), ct))
        {
            if (!created.IsSuccessStatusCode)
            {
                (await AdminRest.PutAsync($"/api/v1/repository/{repository}", Json($$"""{"description":"{{CallerProfile.PrivateMarker}}"}"""), ct)).EnsureSuccessStatusCode();
                (await AdminRest.PostAsync($"/api/v1/repository/{repository}/changevisibility", Json("""{"visibility":"private"}"""), ct)).EnsureSuccessStatusCode();
            }
        }
        foreach (var blob in new[] { RegistrySurface.Layer, RegistrySurface.Config })
        {
            using var start = await AdminRest.PostAsync($"/v2/{repository}/blobs/uploads/", null, ct);
            start.EnsureSuccessStatusCode();
            var location = start.Headers.Location!.ToString();
            using var put = await AdminRest.PutAsync(location + (location.Contains('?') ? "&" : "?") + "digest=" + RegistrySurface.DigestOf(blob), new ByteArrayContent(blob), ct);
            put.EnsureSuccessStatusCode();
        }
        using (var manifest = new StringContent(RegistrySurface.Manifest(RegistrySurface.DigestOf(RegistrySurface.Config), RegistrySurface.DigestOf(RegistrySurface.Layer))))
        {
            manifest.Headers.ContentType = new("application/vnd.oci.image.manifest.v1+json");
            (await AdminRest.PutAsync($"/v2/{repository}/manifests/{CallerProfile.PrivateMarker}", manifest, ct)).EnsureSuccessStatusCode();
        }
        var projects = new BuildGrid.Projects.V1.Projects.ProjectsClient(Channel);
        var save = new BuildGrid.Projects.V1.SaveProjectRequest
        {
            Mode = BuildGrid.Projects.V1.SaveProjectRequest.Types.Mode.Add, Name = "hostile-private-project", Cluster = CallerProfile.PrivateNamespace,
            DockerfileType = BuildGrid.Projects.V1.DockerfileType.Define, Dockerfile = $"FROM scratch\nLABEL secret={CallerProfile.PrivateMarker}\n",
        };
        try
        {
            await projects.SaveProjectAsync(save, CallerProfile.Admin.Metadata(), cancellationToken: ct);
        }
        catch (Grpc.Core.RpcException e) when (e.StatusCode == Grpc.Core.StatusCode.AlreadyExists)
        {
            save.Mode = BuildGrid.Projects.V1.SaveProjectRequest.Types.Mode.Update;
            await projects.SaveProjectAsync(save, CallerProfile.Admin.Metadata(), cancellationToken: ct);
        }
        // The admin sees the marker in each place.
        foreach (var path in new[] { $"/api/v1/repository/{repository}", $"/v2/{repository}/tags/list" })
            Assert.Contains(CallerProfile.PrivateMarker, await AdminRest.GetStringAsync(path, ct), StringComparison.Ordinal);
        var project = await projects.GetProjectAsync(new() { Name = "hostile-private-project" }, CallerProfile.Admin.Metadata(), cancellationToken: ct);
        Assert.Contains(CallerProfile.PrivateMarker, project.Dockerfile, StringComparison.Ordinal);
        Assert.Equal(CallerProfile.PrivateNamespace, project.Cluster);
    }

    static StringContent Json(string text) => new(text, System.Text.Encoding.UTF8, "application/json");

    async Task<bool> HealthyAsync(CancellationToken ct)
    {
        using var response = await Rest.GetAsync("/healthz", ct);
        return response.IsSuccessStatusCode;
    }

    public async ValueTask DisposeAsync()
    {
        Rest?.Dispose();
        AdminRest?.Dispose();
        Channel?.Dispose();
        if (app is not null)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
        TestDirectories.TryDelete(DataDir);
    }
}

/// <summary>
/// The hostile-input campaign: malformed, oversize, wrongly typed, injection-shaped and unauthenticated requests
/// on every surface, from a fixed seed and a fixed budget. Each surface asserts: no server fault (5xx, imagemarket 10100,
/// gRPC Internal/Unknown, a hang, a dropped connection), no stored row changed by a rejected request, nothing private in
/// an answer to a caller who may not see it (<see cref="CallerProfile"/>), a healthy host and no error in its log.
/// The counts per surface and status class are written to the test output.
/// </summary>
public sealed class HostileCampaignTests(CampaignHost host, ITestOutputHelper output) : IClassFixture<CampaignHost>
{
    const int Seed = 20261123;
    internal static readonly string[] HarborPostReads = ["/repositories/manifests", "/repositories/tags", "/api/repositories/manifests", "/api/repositories/tags"];

    [Fact]
    public async Task Rest_routes_from_the_openapi_document_and_the_seeds()
    {
        var ct = TestContext.Current.CancellationToken;
        var openApi = JsonNode.Parse(await host.Rest.GetStringAsync("/openapi.json", ct))!.AsObject();
        var seeds = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Seeds"), "*.txt").Order(StringComparer.Ordinal)
            .Select(File.ReadAllText).ToList();
        Assert.Equal(4, seeds.Count);
        var surface = new RestSurface(openApi, seeds, new HostileValues(Seed));
        // Without credentials, every plausible write is refused as unauthenticated: HTTP 401, or imagemarket's code 10401
        // (that dialect answers 200 to everything). Not a 200 with data, not a 404 that tells whether the target exists.
        var unauthenticated = new List<string>();
        foreach (var caller in new[] { CallerProfile.Anonymous, CallerProfile.WrongCredentials })
        {
            foreach (var shot in surface.BaselineShots())
            {
                var outcome = await shot.SendAsync(host.Rest, caller, ct);
                // 401 (imagemarket: code 10401), or the failed-login throttle (429; imagemarket writes it as code 10006).
                var refused = outcome.Status == 401 || outcome.Class == "2xx (code 10401)"
                    || outcome.Status == 429 || outcome.Body.Contains("Too many failed logins", StringComparison.Ordinal);
                var harborRead = HarborPostReads.Any(r => shot.PathAndQuery.StartsWith(r, StringComparison.Ordinal));
                var verdict = refused ? "refused" : outcome.Status == 400 ? "NOTE: 400 before the credential check (no data)"
                    : harborRead ? "NOTE: Harbor's POST read (anonymous reads allowed; hiding checked below)" : "FAIL";
                output.WriteLine($"unauthenticated write as '{caller.Name}': {verdict} {outcome.Status} {outcome.Class} {shot.Method} {shot.PathAndQuery}"
                    + (refused ? "" : ": " + outcome.Snippet));
                // A malformed plausible request may be refused as malformed (400) before credentials are looked at; it
                // carries no data. Anything else — accepted, or a 403/404 that tells what exists — fails.
                // Harbor's seed reads manifests and tags with POST; anonymous reads of public repositories are allowed
                // through the facades (registry-auth), so these are reads: checked below for hiding private repositories.
                if (!refused && outcome.Status != 400 && !harborRead)
                    unauthenticated.Add($"{shot.Method} {shot.PathAndQuery} as '{caller.Name}': {outcome.Status} {outcome.Class}: {outcome.Snippet}");
            }
        }
        // Set-up: the plausible creates and updates (as the admin), so that the hostile requests aim at stored rows.
        foreach (var shot in surface.BaselineShots())
        {
            var outcome = await shot.SendAsync(host.Rest, CallerProfile.Admin, ct);
            output.WriteLine($"baseline {outcome.Class} {shot.Method} {shot.PathAndQuery}: {outcome.Snippet}");
        }
        var requests = surface.Shots().Select(s => s.ToRequest("rest", host.Rest)).ToList();
        var operations = openApi["paths"]!.AsObject().Sum(p => p.Value!.AsObject().Count);
        Assert.True(operations > 50, $"the OpenAPI document lists the transcoded routes ({operations})");
        // Harbor's POST reads: to an anonymous caller a private repository looks exactly like one that does not exist.
        foreach (var read in HarborPostReads)
        {
            var hidden = await new HttpShot("POST", $"{read}?repo_name={CallerProfile.PrivateNamespace}/private&tag={CallerProfile.PrivateMarker}")
                .SendAsync(host.Rest, CallerProfile.Anonymous, ct);
            var missing = await new HttpShot("POST", $"{read}?repo_name={CallerProfile.PrivateNamespace}/no-such-repository&tag={CallerProfile.PrivateMarker}")
                .SendAsync(host.Rest, CallerProfile.Anonymous, ct);
            output.WriteLine($"anonymous POST {read}: private repository {hidden.Status}, missing repository {missing.Status}");
            if (hidden.Status != missing.Status || !hidden.Rejected || CallerProfile.Anonymous.LeakCheck(hidden) is not null)
                unauthenticated.Add($"POST {read} tells a private repository ({hidden.Status}: {hidden.Snippet}) from a missing one ({missing.Status}: {missing.Snippet})");
        }
        var campaign = await Record.ExceptionAsync(() => RunAsync(requests, ct));
        foreach (var line in unauthenticated)
            output.WriteLine("FAIL not 401: " + line);
        Assert.True(unauthenticated.Count == 0, $"{unauthenticated.Count} plausible writes without valid credentials were not answered 401:\n" + string.Join("\n", unauthenticated.Take(20)));
        if (campaign is not null)
            throw campaign;
    }

    [Fact]
    public async Task Grpc_methods_of_every_service_in_the_protos()
    {
        var ct = TestContext.Current.CancellationToken;
        var surface = new GrpcSurface(host.Channel, new HostileValues(Seed));
        Assert.Contains(GrpcSurface.Methods(), m => m.Service.Name == "Quay");
        await RunAsync([.. surface.Requests()], ct);
    }

    [Fact]
    public async Task Registry_v2_names_references_digests_ranges_uploads_and_manifests()
    {
        var ct = TestContext.Current.CancellationToken;
        var uploads = await RegistrySurface.SetUpAsync(host.AdminRest, ct);
        var surface = new RegistrySurface(new HostileValues(Seed));
        await RunAsync([.. surface.Shots(uploads).Select(s => s.ToRequest("v2", host.Rest))], ct);
        // The image the hostile requests aimed around is intact.
        using var manifest = await host.AdminRest.GetAsync($"/v2/{RegistrySurface.Repository}/manifests/v1", ct);
        Assert.Equal(System.Net.HttpStatusCode.OK, manifest.StatusCode);
        Assert.Equal(RegistrySurface.Layer, await host.AdminRest.GetByteArrayAsync($"/v2/{RegistrySurface.Repository}/blobs/{RegistrySurface.DigestOf(RegistrySurface.Layer)}", ct));
    }

    [Fact]
    public async Task Raw_http_that_no_client_library_sends()
    {
        var ct = TestContext.Current.CancellationToken;
        await RunAsync([.. new RawHttpSurface(host.RestUrl).Requests()], ct);
    }

    async Task RunAsync(IReadOnlyList<HostileRequest> requests, CancellationToken ct)
    {
        var before = host.Runner.Failures.Count;
        // The private data is in place (and visible to the admin) before the profiles run: the leak checks are not vacuous.
        await host.PlantAsync(ct);
        foreach (var caller in CallerProfile.All)
        {
            var mine = caller.Select(requests);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await host.Runner.RunAsync(mine, caller, ct);
            output.WriteLine($"{mine.Count} of {requests.Count} requests as '{caller.Name}' in {clock.Elapsed.TotalSeconds:F1} s");
        }
        output.WriteLine($"totals so far (surface as caller profile):");
        output.WriteLine(host.Runner.Report());
        var failures = host.Runner.Failures.Skip(before).ToList();
        foreach (var failure in failures.Take(400))
            output.WriteLine("FAIL " + failure);
        var errors = new List<string>();
        while (host.Errors.TryTake(out var entry))
            errors.Add(entry);
        foreach (var error in errors.Take(200))
            output.WriteLine("HOST ERROR " + (error.Length > 2000 ? error[..2000] : error));
        Assert.True(failures.Count == 0, $"{failures.Count} failures (see the output):\n" + string.Join("\n", failures.Take(20)));
        Assert.True(errors.Count == 0, $"the host logged {errors.Count} errors (see the output):\n" + string.Join("\n", errors.Take(5)));
    }
}
