using Dapper;

namespace BuildGrid.Registry.Storage;

/// <summary>What a set of repositories holds: the dashboard's storage used and latest pushes.</summary>
public sealed partial class RegistryStore
{
    /// <summary>
    /// Stored bytes (distinct blobs linked to the visible repositories; every blob when <paramref name="visibleTo"/> is
    /// null), repository and tag counts, and the <paramref name="recent"/> latest tag pushes, newest first.
    /// </summary>
    public async Task<(long StoredBytes, long Repositories, long Tags, IReadOnlyList<PushRow> Recent)> UsageAsync(
        RepositoryVisibility? visibleTo, int recent, CancellationToken cancellationToken)
    {
        var parameters = new DynamicParameters(new { limit = recent, offset = 0 });
        var visible = visibleTo is null ? "" : $"WHERE {visibleTo.Filter(parameters)}";
        var ids = $"SELECT id FROM repositories {visible}";
        var stored = visibleTo is null
            ? "SELECT COALESCE(SUM(size), 0) FROM blobs"
            : $"SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN (SELECT l.digest FROM repository_blobs l WHERE l.repository_id IN ({ids}))";
        await using var connection = await db.OpenAsync(cancellationToken);
        var storedBytes = await connection.ExecuteScalarAsync<long>(Cmd(stored, parameters, null, cancellationToken));
        var repositories = await connection.ExecuteScalarAsync<long>(Cmd($"SELECT COUNT(*) FROM repositories {visible}", parameters, null, cancellationToken));
        var tags = await connection.ExecuteScalarAsync<long>(Cmd($"SELECT COUNT(*) FROM tags WHERE repository_id IN ({ids})", parameters, null, cancellationToken));
        var rows = await connection.QueryAsync<PushRow>(Cmd($"""
            SELECT r.name AS Repository, t.name AS Tag, t.digest AS Digest, m.total_size AS Size, t.updated_at AS UpdatedAt
            FROM tags t JOIN repositories r ON r.id = t.repository_id
                JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
            WHERE t.repository_id IN ({ids})
            ORDER BY t.updated_at DESC, r.name, t.name {db.Dialect.Page}
            """, parameters, null, cancellationToken));
        return (storedBytes, repositories, tags, rows.ToList());
    }
}

public sealed class PushRow
{
    public string Repository { get; init; } = "";
    public string Tag { get; init; } = "";
    public string Digest { get; init; } = "";
    public long Size { get; init; }
    public long UpdatedAt { get; init; }
}
