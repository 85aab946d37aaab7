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

    public async ValueTask InitializeAsync()
    {
        Uri grpcUrl;
        (app, RestUrl, grpcUrl) = await StandaloneFixture.StartAsync(DataDir, Errors, ["--Builds:Workers=0", .. CallerProfile.HostSettings]);
        Rest = new HttpClient { BaseAddress = RestUrl, Timeout = TimeSpan.FromSeconds(30) };
        Channel = GrpcChannel.ForAddress(grpcUrl, new GrpcChannelOptions { MaxReceiveMessageSize = 64 << 20 });
        Runner = new CampaignRunner(DataDir, HealthyAsync);
        // Private data for the caller-profile checks: a private Quay repository whose description carries the marker.
        using var planted = await Rest.PostAsync("/api/v1/repository", new StringContent(
            $$"""{"namespace":"hostile","repository":"private","visibility":"private","description":"{{CallerProfile.PrivateMarker}}","repo_kind":"image"}""",
            System.Text.Encoding.UTF8, "application/json"));
        if (!planted.IsSuccessStatusCode)
            throw new InvalidOperationException($"planting the private repository failed: {(int)planted.StatusCode} {await planted.Content.ReadAsStringAsync()}");
    }

    async Task<bool> HealthyAsync(CancellationToken ct)
    {
        using var response = await Rest.GetAsync("/healthz", ct);
        return response.IsSuccessStatusCode;
    }

    public async ValueTask DisposeAsync()
    {
        Rest?.Dispose();
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
/// The hostile-input campaign (issue 8): malformed, oversize, wrongly typed, injection-shaped and unauthenticated requests
/// on every surface, from a fixed seed and a fixed budget. Each surface asserts: no server fault (5xx, imagemarket 10100,
/// gRPC Internal/Unknown, a hang, a dropped connection), no stored row changed by a rejected request, nothing private in
/// an answer to a caller who may not see it (<see cref="CallerProfile"/>), a healthy host and no error in its log.
/// The counts per surface and status class are written to the test output.
/// </summary>
public sealed class HostileCampaignTests(CampaignHost host, ITestOutputHelper output) : IClassFixture<CampaignHost>
{
    const int Seed = 20261123;

    [Fact]
    public async Task Rest_routes_from_the_openapi_document_and_the_seeds()
    {
        var ct = TestContext.Current.CancellationToken;
        var openApi = JsonNode.Parse(await host.Rest.GetStringAsync("/openapi.json", ct))!.AsObject();
        var seeds = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Seeds"), "*.txt").Order(StringComparer.Ordinal)
            .Select(File.ReadAllText).ToList();
        Assert.Equal(4, seeds.Count);
        var surface = new RestSurface(openApi, seeds, new HostileValues(Seed));
        // Set-up: the plausible creates and updates, so that the hostile requests aim at stored rows.
        foreach (var shot in surface.BaselineShots())
        {
            var outcome = await shot.SendAsync(host.Rest, CallerProfile.ProtectedModeAnonymous, ct);
            output.WriteLine($"baseline {outcome.Class} {shot.Method} {shot.PathAndQuery}: {outcome.Snippet}");
        }
        var requests = surface.Shots().Select(s => s.ToRequest("rest", host.Rest)).ToList();
        var operations = openApi["paths"]!.AsObject().Sum(p => p.Value!.AsObject().Count);
        Assert.True(operations > 50, $"the OpenAPI document lists the transcoded routes ({operations})");
        await RunAsync(requests, ct);
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
        var uploads = await RegistrySurface.SetUpAsync(host.Rest, ct);
        var surface = new RegistrySurface(new HostileValues(Seed));
        await RunAsync([.. surface.Shots(uploads).Select(s => s.ToRequest("v2", host.Rest))], ct);
        // The image the hostile requests aimed around is intact.
        using var manifest = await host.Rest.GetAsync($"/v2/{RegistrySurface.Repository}/manifests/v1", ct);
        Assert.Equal(System.Net.HttpStatusCode.OK, manifest.StatusCode);
        Assert.Equal(RegistrySurface.Layer, await host.Rest.GetByteArrayAsync($"/v2/{RegistrySurface.Repository}/blobs/{RegistrySurface.DigestOf(RegistrySurface.Layer)}", ct));
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
        foreach (var caller in CallerProfile.All)
            await host.Runner.RunAsync(requests, caller, ct);
        output.WriteLine($"{requests.Count} requests per caller profile ({CallerProfile.All.Count} profiles); totals so far:");
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
