namespace BuildGrid.Tests.Infrastructure;

/// <summary>
/// A standalone host of one test's own (its own data directory and settings), stopped and removed on dispose —
/// for tests that need settings or a state the shared <see cref="StandaloneFixture"/> must not have.
/// </summary>
public sealed class OwnedHost : IAsyncDisposable
{
    OwnedHost(WebApplication app, Uri rest, Uri grpc, string dataDir) => (App, RestUrl, GrpcUrl, DataDir) = (app, rest, grpc, dataDir);

    public WebApplication App { get; }
    public Uri RestUrl { get; }
    public Uri GrpcUrl { get; }
    public string DataDir { get; }

    /// <summary>Starts a host in a new data directory named after <paramref name="prefix"/>; extra arguments are settings.</summary>
    public static async Task<OwnedHost> StartAsync(string prefix, params string[] settings)
    {
        var dataDir = TestDirectories.Create(prefix);
        try
        {
            var (app, rest, grpc) = await StandaloneFixture.StartAsync(dataDir, null, settings);
            return new OwnedHost(app, rest, grpc, dataDir);
        }
        catch
        {
            TestDirectories.TryDelete(dataDir);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        TestDirectories.TryDelete(DataDir);
    }
}
