using System.Net;
using System.Text.Json;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Projects;

/// <summary>What every host offers: health, the OpenAPI document, gRPC reflection, and data that outlives the process.</summary>
[Collection(StandaloneCollection.Name)]
public sealed class HostTests(StandaloneFixture fixture) : IDisposable
{
    public void Dispose() => fixture.AssertNoErrorsLogged();

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Healthz_answers_healthy()
    {
        using var response = await fixture.Rest.GetAsync("/healthz", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task The_openapi_document_describes_the_image_market_routes()
    {
        var document = JsonDocument.Parse(await fixture.Rest.GetStringAsync("/openapi.json", Ct)).RootElement;
        Assert.Equal("3.0.3", document.GetProperty("openapi").GetString());
        var paths = document.GetProperty("paths");
        foreach (var path in new[] { "/api/project/new", "/api/project/delete", "/api/project/clone", "/api/project/save", "/api/plugin/extension/interface" })
            Assert.True(paths.GetProperty(path).TryGetProperty("post", out _), path);
        var list = paths.GetProperty("/api/project/list");
        Assert.True(list.TryGetProperty("post", out _));
        var query = list.GetProperty("get").GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString()).ToList();
        Assert.Equal(["projectName", "page", "page_size", "operator"], query);
        var save = document.GetProperty("components").GetProperty("schemas").GetProperty("buildgrid.gateway.imagemarket.v1.SaveProjectRequest").GetProperty("properties");
        Assert.True(save.TryGetProperty("$$plugin", out _));
        Assert.True(save.TryGetProperty("DefineDockerFileType", out _));
        Assert.False(save.TryGetProperty("body", out _));
    }

    [Fact]
    public async Task Every_pooled_sqlite_connection_has_foreign_keys_on_normal_sync_and_a_busy_timeout()
    {
        // The pragmas are set once per physical connection, not per open: every connection handed out must have them.
        var db = fixture.Services.GetRequiredKeyedService<BuildGrid.Core.Storage.ServiceDatabase>("containers");
        var settings = await Task.WhenAll(Enumerable.Range(0, 40).Select(async _ =>
        {
            await using var connection = await db.OpenAsync(Ct);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT (SELECT foreign_keys FROM pragma_foreign_keys) || ',' || (SELECT synchronous FROM pragma_synchronous)" +
                " || ',' || (SELECT timeout FROM pragma_busy_timeout)";
            var value = (string)(await command.ExecuteScalarAsync(Ct))!;
            await Task.Delay(5, Ct);
            return value;
        }));
        Assert.All(settings, value => Assert.Equal("1,1,30000", value));
    }

    [Fact]
    public async Task A_writer_waiting_for_the_sqlite_write_lock_gets_it_within_milliseconds_of_its_release()
    {
        // Microsoft.Data.Sqlite retries a busy write after Thread.Sleep(150) unless SQLite's own busy handler (busy_timeout)
        // waits first: then concurrent writes (8 clients pushing blobs) queued for 150 ms behind a lock held for one.
        var db = fixture.Services.GetRequiredKeyedService<BuildGrid.Core.Storage.ServiceDatabase>("containers");
        await using var holder = await db.OpenAsync(Ct);
        await using var held = await db.Dialect.BeginWriteAsync(holder, Ct);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var trying = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiter = Task.Run(async () =>
        {
            await using var connection = await db.OpenAsync(Ct);
            trying.SetResult();
            await using var tx = await db.Dialect.BeginWriteAsync(connection, Ct);
            var acquired = clock.Elapsed;
            await tx.CommitAsync(Ct);
            return acquired;
        }, Ct);
        await trying.Task.WaitAsync(Ct);
        await Task.Delay(40, Ct); // from the second writer's first attempt
        Assert.False(waiter.IsCompleted, "the second writer got the lock while the first held it");
        var released = clock.Elapsed;
        await held.RollbackAsync(Ct);
        var lag = await waiter - released;
        // SQLite's handler retries 33, 53 and 78 ms after the first attempt (about 15 ms after the release, or 35 ms if
        // the delay overshoots by 35 ms); the 150 ms sleeps retry only at 150 ms, 110 ms after it.
        Assert.True(lag < TimeSpan.FromMilliseconds(60), $"the waiting writer got the lock {lag.TotalMilliseconds:F0} ms after its release");
    }

    [Fact]
    public async Task Committed_projects_survive_a_restart_of_the_host()
    {
        var dataDir = TestDirectories.Create("restart");
        try
        {
            var (app, rest, _) = await StandaloneFixture.StartAsync(dataDir);
            using (var http = new HttpClient { BaseAddress = rest })
            {
                var api = new ImageMarketApi(http);
                for (var i = 0; i < 5; i++)
                    Assert.Equal(10000, (await api.NewAsync($"keep-{i}", "root")).Code);
                Assert.Equal(10000, (await api.PostJsonAsync("/api/project/delete", new { projectName = "keep-4" })).Code);
            }
            await app.StopAsync(Ct);
            await app.DisposeAsync();

            var (again, rest2, _) = await StandaloneFixture.StartAsync(dataDir);
            await using var _ = again;
            using var http2 = new HttpClient { BaseAddress = rest2 };
            var list = await new ImageMarketApi(http2).GetAsync("/api/project/list?projectName=keep-");
            Assert.Equal(["keep-0", "keep-1", "keep-2", "keep-3"], list.Content.GetProperty("data").EnumerateArray().Select(p => p.GetProperty("name").GetString()));
            await again.StopAsync(Ct);
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }
}
