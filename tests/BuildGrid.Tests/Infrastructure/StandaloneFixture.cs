using BuildGrid.Standalone;
using BuildGrid.Core.Hosting;
using BuildGrid.Gateway;
using Grpc.Net.Client;

namespace BuildGrid.Tests.Infrastructure;

/// <summary>
/// Standalone BuildGrid as a user runs it — the same composition as <c>dotnet run --project gateway/BuildGrid.Standalone</c> —
/// on loopback port 0 with its own data directory: real Kestrel, real SQLite files (or, with BUILDGRID_TEST_SQL=postgres,
/// a fresh database of the test run's PostgreSQL cluster, see <see cref="PostgresServer"/>), embedded Garnet.
/// </summary>
public sealed class StandaloneFixture : IAsyncLifetime
{
    WebApplication? app;

    public string DataDir { get; } = TestDirectories.Create("standalone");
    public ErrorLog Errors { get; } = new();
    public Uri RestUrl { get; private set; } = null!;
    public Uri GrpcUrl { get; private set; } = null!;
    public HttpClient Rest { get; private set; } = null!;
    public GrpcChannel Channel { get; private set; } = null!;
    public IServiceProvider Services => app!.Services;

    /// <summary>
    /// Notification settings of the shared host: webhook tests deliver to listeners on 127.0.0.1, which the SSRF guard
    /// refuses by default, and retry quickly.
    /// </summary>
    public static readonly string[] LoopbackWebhooks =
    [
        "--Registry:Notifications:AllowedNetworks:0=127.0.0.1/32",
        "--Registry:Notifications:InitialBackoff=00:00:00.200",
        "--Registry:Notifications:PollInterval=00:00:00.200",
        "--Registry:Notifications:SendTimeout=00:00:05",
    ];

    public async ValueTask InitializeAsync()
    {
        (app, RestUrl, GrpcUrl) = await StartAsync(DataDir, Errors, LoopbackWebhooks);
        Rest = new HttpClient { BaseAddress = RestUrl };
        Channel = GrpcChannel.ForAddress(GrpcUrl);
    }

    /// <summary>
    /// Starts a standalone host; extra arguments are configuration (<c>--KEY=value</c>, after and so above the database
    /// settings that <see cref="PostgresServer.SettingsFor"/> gives its data directory).
    /// </summary>
    public static async Task<(WebApplication App, Uri RestUrl, Uri GrpcUrl)> StartAsync(string dataDir, ErrorLog? errors = null, params string[] extra)
    {
        var database = (await PostgresServer.SettingsFor(dataDir)).Select(s => $"--{s.Key}={s.Value}");
        var app = BuildGridHost.Create(
        [
            .. database,
            "--BUILDGRID_REST_URL=http://127.0.0.1:0",
            "--BUILDGRID_GRPC_URL=http://127.0.0.1:0",
            $"--BUILDGRID_DATA_DIR={dataDir}",
            "--Logging:LogLevel:Default=Warning",
            .. extra,
        ], builder =>
        {
            if (errors is not null)
                builder.Logging.AddProvider(errors);
        });
        await app.StartAsync();
        var endpoints = app.Services.GetRequiredService<BuildGridEndpoints>();
        return (app, endpoints.RestUri, endpoints.GrpcUri);
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

    /// <summary>
    /// An answer may look right while something failed behind it: test classes call this after each test (Dispose),
    /// and the test fails if the host logged an error meanwhile.
    /// </summary>
    public void AssertNoErrorsLogged()
    {
        var errors = new List<string>();
        while (Errors.TryTake(out var entry))
            errors.Add(entry);
        if (errors.Count > 0)
            throw new Xunit.Sdk.XunitException("The standalone host logged errors:\n" + string.Join("\n", errors));
    }
}

[CollectionDefinition(Name)]
public sealed class StandaloneCollection : ICollectionFixture<StandaloneFixture>
{
    public const string Name = "standalone";
}
