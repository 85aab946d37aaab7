using System.Globalization;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using BuildGrid.Tests.Infrastructure;
using Npgsql;

namespace BuildGrid.Tests.Storage;

/// <summary>
/// BuildGrid on PostgreSQL as an operator runs it (BUILDGRID_SQL_PROVIDER=postgres, BUILDGRID_SQL=&lt;Npgsql connection
/// string&gt;): a standalone host on a private PostgreSQL 15 cluster of its own (<see cref="PostgresServer"/>), which these
/// tests kill -9 and restart. They run on every pass, whatever BUILDGRID_TEST_SQL says.
/// </summary>
public sealed class PostgresTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    static readonly string[] Services = ["builds", "containers", "identity", "projects", "registry"];

    static async Task<(WebApplication App, ImageMarketApi Api, HttpClient Http)> StartAsync(PostgresServer server, string database, string dataDir)
    {
        var settings = server.Settings(database).Select(s => $"--{s.Key}={s.Value}").ToArray();
        var (app, rest, _) = await StandaloneFixture.StartAsync(dataDir, null, settings);
        var http = new HttpClient { BaseAddress = rest, Timeout = TimeSpan.FromSeconds(30) };
        return (app, new ImageMarketApi(http), http);
    }

    static async Task StopAsync(WebApplication app, HttpClient http)
    {
        http.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
    }

    static async Task<List<(string Schema, string Table)>> TablesAsync(PostgresServer server, string database)
    {
        await using var connection = new NpgsqlConnection(server.ConnectionString(database) + ";Pooling=false");
        await connection.OpenAsync(Ct);
        await using var query = new NpgsqlCommand(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')", connection);
        var tables = new List<(string, string)>();
        await using var reader = await query.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
            tables.Add((reader.GetString(0), reader.GetString(1)));
        return tables;
    }

    static async Task<long> ScalarAsync(PostgresServer server, string database, string sql, params object[] values)
    {
        await using var connection = new NpgsqlConnection(server.ConnectionString(database) + ";Pooling=false");
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values)
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        return Convert.ToInt64(await command.ExecuteScalarAsync(Ct), CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Each_service_keeps_its_tables_and_migrations_in_a_schema_of_its_own()
    {
        await using var server = await PostgresServer.StartAsync();
        var database = await server.CreateDatabaseAsync();
        var dataDir = TestDirectories.Create("pg-schemas");
        try
        {
            var (app, api, http) = await StartAsync(server, database, dataDir);
            var name = ImageMarketApi.UniqueName("schema");
            Assert.Equal(10000, (await api.NewAsync(name)).Code);
            await StopAsync(app, http);

            var tables = await TablesAsync(server, database);
            // Nothing in public; every service has its own migrations record and Core's outbox; the key ring is in the builds schema.
            Assert.DoesNotContain(tables, t => t.Schema == "public");
            Assert.Equal(Services, tables.Select(t => t.Schema).Distinct().Order());
            foreach (var schema in Services)
            {
                Assert.Contains((schema, "schema_version"), tables);
                Assert.Contains((schema, "outbox"), tables);
            }
            Assert.Contains(("builds", "data_protection_keys"), tables);
            Assert.Equal(1, await ScalarAsync(server, database, "SELECT COUNT(*) FROM projects.projects WHERE name = $1", name));
            // Identity's users are not visible through another service's search path.
            Assert.Equal(0, await ScalarAsync(server, database,
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'projects' AND table_name = 'users'"));
            // Every provider-specific migration was applied and recorded, on both tracks (Core's and the service's).
            Assert.True(await ScalarAsync(server, database, "SELECT MAX(version) FROM builds.schema_version WHERE track = 'BuildGrid.Builds'") >= 5);
            Assert.Equal(2, await ScalarAsync(server, database, "SELECT MAX(version) FROM builds.schema_version WHERE track = 'BuildGrid.Core'"));
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }

    [Fact]
    public async Task A_database_newer_than_the_code_is_refused_at_start_naming_the_versions()
    {
        await using var server = await PostgresServer.StartAsync();
        var database = await server.CreateDatabaseAsync();
        var dataDir = TestDirectories.Create("pg-newer");
        try
        {
            var (app, _, http) = await StartAsync(server, database, dataDir);
            await StopAsync(app, http);
            await ScalarAsync(server, database,
                "INSERT INTO identity.schema_version (track, version, name, applied_at) VALUES ('BuildGrid.Identity', 99, 'from_the_future', 0)");

            var refused = await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                var (again, _, againHttp) = await StartAsync(server, database, TestDirectories.Create("pg-newer-2"));
                await StopAsync(again, againHttp);
            });
            var message = Flatten(refused);
            Assert.Contains("newer than this code", message);
            Assert.Contains("99", message);
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }

    static string Flatten(Exception e) => e is AggregateException a
        ? string.Join(" | ", a.Flatten().InnerExceptions.Select(Flatten))
        : e.Message + (e.InnerException is { } inner ? " | " + Flatten(inner) : "");

    [Fact]
    public async Task A_kill_of_postgres_mid_load_fails_requests_cleanly_and_BuildGrid_recovers_without_a_restart()
    {
        await using var server = await PostgresServer.StartAsync();
        var database = await server.CreateDatabaseAsync();
        var dataDir = TestDirectories.Create("pg-outage");
        var (app, api, http) = await StartAsync(server, database, dataDir);
        try
        {
            var confirmed = new ConcurrentBag<string>();
            var answers = new ConcurrentBag<(HttpStatusCode Status, int Code, TimeSpan Took)>();
            using var stop = new CancellationTokenSource();
            async Task Writer(int id)
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    var name = $"outage-{id}-{i}-{Guid.NewGuid():N}"[..40];
                    var clock = Stopwatch.StartNew();
                    try
                    {
                        var answer = await api.NewAsync(name);
                        answers.Add((answer.Status, answer.Code, clock.Elapsed));
                        if (answer.Status == HttpStatusCode.OK && answer.Code == 10000)
                            confirmed.Add(name);
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
                    {
                        answers.Add((HttpStatusCode.InternalServerError, -1, clock.Elapsed));
                    }
                }
            }
            var writers = Enumerable.Range(0, 4).Select(i => Task.Run(() => Writer(i), Ct)).ToArray();
            await Eventually.Async(() => confirmed.Count, n => n >= 20, 30_000);

            await server.KillAsync();
            var killedAt = confirmed.Count;
            await Task.Delay(3000, Ct);
            var duringOutage = answers.Count;
            await server.RestartAsync();
            // Without a BuildGrid restart, writes succeed again.
            await Eventually.Async(() => confirmed.Count, n => n >= killedAt + 20, 60_000);
            stop.Cancel();
            await Task.WhenAll(writers);

            // Every answer was a clean one of the dialect, and quick: no 500, no hang, no broken body.
            Assert.DoesNotContain(answers, a => a.Status != HttpStatusCode.OK);
            Assert.DoesNotContain(answers, a => a.Took > TimeSpan.FromSeconds(10));
            var failures = answers.Where(a => a.Code != 10000).ToList();
            Assert.NotEmpty(failures);
            Assert.True(duringOutage > killedAt, "requests kept being answered during the outage");

            // Every confirmed write is there exactly once (names are unique, so a replay would have been refused, not doubled).
            var names = confirmed.ToArray();
            Assert.Equal(names.Length, await ScalarAsync(server, database, "SELECT COUNT(*) FROM projects.projects WHERE name = ANY($1)", (object)names));
            Assert.Equal(0, await ScalarAsync(server, database,
                "SELECT COUNT(*) FROM (SELECT lower(name) FROM projects.projects GROUP BY lower(name) HAVING COUNT(*) > 1) d"));
            foreach (var name in names.Take(5))
                Assert.Equal(10000, (await api.InfoAsync(name)).Code);
        }
        finally
        {
            await StopAsync(app, http);
            TestDirectories.TryDelete(dataDir);
        }
    }
}
