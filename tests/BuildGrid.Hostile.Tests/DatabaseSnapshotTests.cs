using BuildGrid.Hostile.Tests.Campaign;
using BuildGrid.Tests.Infrastructure;
using Microsoft.Data.Sqlite;

namespace BuildGrid.Hostile.Tests;

/// <summary>The campaign's row check sees what it must (a changed, added or removed row) and ignores only the excluded bookkeeping.</summary>
public sealed class DatabaseSnapshotTests : IDisposable
{
    readonly string dir = TestDirectories.Create("snapshot");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        TestDirectories.TryDelete(dir);
    }

    // The database "one": one.db, or the schema one of the directory's PostgreSQL database (BUILDGRID_TEST_SQL=postgres).
    async Task ExecAsync(string sql)
    {
        await using var conn = await PostgresServer.OpenServiceDatabaseAsync(dir, "one");
        await using var command = conn.CreateCommand();
        if (PostgresServer.Selected)
            sql = "CREATE SCHEMA IF NOT EXISTS one; " + sql;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task A_changed_added_or_removed_row_differs_and_outbox_bookkeeping_does_not()
    {
        var ct = TestContext.Current.CancellationToken;
        await ExecAsync("""
            CREATE TABLE projects (name TEXT PRIMARY KEY, cluster TEXT);
            INSERT INTO projects VALUES ('a', 'x'), ('b', 'y');
            CREATE TABLE outbox (id INTEGER PRIMARY KEY, event_id TEXT, sent_at INTEGER NULL, attempts INTEGER, next_attempt_at INTEGER, last_error TEXT);
            INSERT INTO outbox VALUES (1, 'e1', NULL, 0, 0, NULL);
            """);
        var before = await DatabaseSnapshot.TakeAsync(dir, ct);
        Assert.Equal(3, before.Rows);
        Assert.False(await DatabaseSnapshot.OutboxesDrainedAsync(dir, ct));

        await ExecAsync("UPDATE outbox SET sent_at = 5, attempts = 1, next_attempt_at = 9, last_error = 'x'");
        Assert.Empty(before.Diff(await DatabaseSnapshot.TakeAsync(dir, ct)));
        Assert.True(await DatabaseSnapshot.OutboxesDrainedAsync(dir, ct));

        await ExecAsync("UPDATE projects SET cluster = 'z' WHERE name = 'b'");
        Assert.Equal(["one:projects (+1 -1 rows)"], before.Diff(await DatabaseSnapshot.TakeAsync(dir, ct)));
        await ExecAsync("UPDATE projects SET cluster = 'y' WHERE name = 'b'; INSERT INTO outbox VALUES (2, 'e2', 1, 0, 0, NULL)");
        Assert.Equal(["one:outbox (+1 -0 rows)"], before.Diff(await DatabaseSnapshot.TakeAsync(dir, ct)));
        await ExecAsync("DELETE FROM outbox WHERE id = 2; DELETE FROM projects WHERE name = 'a'");
        Assert.Equal(["one:projects (+0 -1 rows)"], before.Diff(await DatabaseSnapshot.TakeAsync(dir, ct)));
    }
}
