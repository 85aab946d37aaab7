using System.Data.Common;
using BuildGrid.Core.Events;
using BuildGrid.Core.Storage;
using BuildGrid.Events.V1;
using BuildGrid.Registry.Domain;
using Dapper;
using Google.Protobuf.WellKnownTypes;

namespace BuildGrid.Registry.Storage;

/// <summary>
/// The registry's repositories and what they hold. This file: repositories, namespaces and stars; the partial files hold
/// blob links (<c>.Blobs</c>), manifests, tags and referrers (<c>.Manifests</c>), pull-through caches (<c>.Proxy</c>) and
/// usage (<c>.Usage</c>). Upload sessions are <see cref="UploadStore"/>'s, the collector's rows <see cref="GcStore"/>'s.
/// Every change that other systems hear about commits its integration event in the same transaction.
/// </summary>
public sealed partial class RegistryStore([FromKeyedServices(RegistryExtensions.AppId)] ServiceDatabase db, Outbox outbox, TimeProvider time)
{
    /// <summary>manifest_references.kind: the reference is a blob (layer or config), or a child manifest of an index.</summary>
    internal const int KindBlob = 1;
    const int KindManifest = 2;

    long Now() => time.GetUtcNow().ToUnixTimeMilliseconds();
    static Timestamp Time(long unixMs) => Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(unixMs));
    /// <summary>The tables holding a repository's rows, emptied (children first) when it is deleted.</summary>
    static readonly string[] RepositoryTables = ["tags", "manifest_references", "manifests", "repository_blobs", "repository_stars"];
    static CommandDefinition Cmd(string sql, object? parameters, DbTransaction? tx, CancellationToken ct) => new(sql, parameters, tx, cancellationToken: ct);

    // ---- repositories ----

    public async Task<RepositoryRow?> FindRepositoryAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<RepositoryRow>(Cmd(
            "SELECT id AS Id, name AS Name, created_at AS CreatedAt, updated_at AS UpdatedAt, is_public AS IsPublic FROM repositories WHERE name = @name",
            new { name }, null, cancellationToken));
    }

    /// <summary>The repository's id, creating it (with its RepositoryCreated event) inside the caller's transaction.</summary>
    async Task<long> EnsureRepositoryAsync(DbConnection connection, DbTransaction tx, string name, string @operator, CancellationToken ct)
    {
        // Replicas on PostgreSQL: two first pushes of one repository (or namespace) must not both insert it.
        await db.Dialect.LockAsync(connection, tx, "registry.repository:" + name, ct);
        var id = await connection.QuerySingleOrDefaultAsync<long?>(Cmd("SELECT id FROM repositories WHERE name = @name", new { name }, tx, ct));
        if (id is { } existing)
            return existing;
        var now = Now();
        // A new repository is public when its namespace is (a Harbor project's "public"), else private, as Quay creates
        // pushed repositories; Quay's changevisibility changes it later.
        var ns = name.IndexOf('/') is > 0 and var first ? name[..first] : name;
        await connection.ExecuteAsync(Cmd("""
            INSERT INTO repositories (name, created_at, updated_at, is_public)
            VALUES (@name, @now, @now, COALESCE((SELECT MAX(is_public) FROM namespaces WHERE name = @ns), 0))
            """, new { name, now, ns }, tx, ct));
        await outbox.AddAsync(connection, tx, new RepositoryCreated { Repository = name, Operator = @operator, Time = Time(now) }, ct);
        if (name.IndexOf('/') > 0)
        {
            await db.Dialect.LockAsync(connection, tx, "registry.namespace:" + ns, ct);
            // The first repository of a namespace creates it (writes are serialized, so the check cannot race).
            if (await connection.ExecuteAsync(Cmd("UPDATE namespaces SET updated_at = @now WHERE name = @ns", new { ns, now }, tx, ct)) == 0)
                await connection.ExecuteAsync(Cmd("INSERT INTO namespaces (name, is_public, created_at, updated_at) VALUES (@ns, 0, @now, @now)",
                    new { ns, now }, tx, ct));
        }
        return await connection.QuerySingleAsync<long>(Cmd("SELECT id FROM repositories WHERE name = @name", new { name }, tx, ct));
    }

    /// <summary>Creates an empty repository with its settings (and RepositoryCreated); false when it exists.</summary>
    public async Task<bool> CreateRepositoryAsync(string name, string? description, bool isPublic, string @operator, CancellationToken cancellationToken)
    {
        db.RequireRoom();
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        if (await connection.ExecuteScalarAsync<long>(Cmd("SELECT COUNT(*) FROM repositories WHERE name = @name", new { name }, tx, cancellationToken)) > 0)
            return false;
        var id = await EnsureRepositoryAsync(connection, tx, name, @operator, cancellationToken);
        await connection.ExecuteAsync(Cmd("UPDATE repositories SET description = @description, is_public = @isPublic WHERE id = @id",
            new { id, description, isPublic = isPublic ? 1 : 0 }, tx, cancellationToken));
        await tx.CommitAsync(cancellationToken);
        outbox.Wake(db);
        return true;
    }

    /// <summary>Sets the description, visibility and/or configured quota of a repository; false when it does not exist.</summary>
    public async Task<bool> UpdateRepositoryAsync(string name, string? description, bool? isPublic, long? quotaBytes, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var sets = new List<string> { "updated_at = @now" };
        if (description is not null) sets.Add("description = @description");
        if (isPublic is not null) sets.Add("is_public = @visible");
        if (quotaBytes is not null) sets.Add("quota_bytes = @quota");
        return await connection.ExecuteAsync(Cmd($"UPDATE repositories SET {string.Join(", ", sets)} WHERE name = @name",
            new { name, description, visible = isPublic == true ? 1 : 0, quota = quotaBytes is > 0 ? quotaBytes : null, now = Now() }, null, cancellationToken)) == 1;
    }

    // ---- namespaces ----

    const string NamespaceColumns = """
        n.id AS Id, n.name AS Name, n.is_public AS IsPublic, n.created_at AS CreatedAt, n.updated_at AS UpdatedAt,
            (SELECT COUNT(*) FROM repositories r WHERE r.name >= n.name + '/' AND r.name < n.name + '0') AS RepositoryCount,
            (SELECT COUNT(*) FROM repositories r WHERE r.name >= n.name + '/' AND r.name < n.name + '0' AND r.is_public = 1) AS PublicRepositoryCount
        """;

    /// <summary>Namespaces by id order (default_cluster first); with <paramref name="members"/>, only public ones and those listed.</summary>
    public async Task<(IReadOnlyList<NamespaceRow> Items, long Total)> ListNamespacesAsync(int offset, int limit, string? nameContains,
        IReadOnlyList<string>? members, CancellationToken cancellationToken)
    {
        var filters = new List<string>();
        var parameters = new DynamicParameters(new { offset, limit, contains = "%" + SqlText.EscapeLike(nameContains ?? "") + "%" });
        if (!string.IsNullOrEmpty(nameContains)) filters.Add(SqlText.Like($@"n.name {db.Dialect.LikeOperator} @contains ESCAPE '\'", nameContains));
        if (members is not null) filters.Add(members.Count == 0 ? "n.is_public <> 0" : $"(n.is_public <> 0 OR n.name IN {SqlText.InList(parameters, "member", members)})");
        var where = filters.Count == 0 ? "" : "WHERE " + string.Join(" AND ", filters);
        await using var connection = await db.OpenAsync(cancellationToken);
        var total = await connection.ExecuteScalarAsync<long>(Cmd($"SELECT COUNT(*) FROM namespaces n {where}", parameters, null, cancellationToken));
        var rows = await connection.QueryAsync<NamespaceRow>(Cmd(
            $"SELECT {Concat(NamespaceColumns)} FROM namespaces n {where} ORDER BY n.id {db.Dialect.Page}", parameters, null, cancellationToken));
        return (rows.ToList(), total);
    }

    public async Task<NamespaceRow?> GetNamespaceAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<NamespaceRow>(Cmd(
            $"SELECT {Concat(NamespaceColumns)} FROM namespaces n WHERE n.id = @id", new { id }, null, cancellationToken));
    }

    /// <summary>String concatenation is '||' in SQLite and PostgreSQL and '+' in SQL Server.</summary>
    string Concat(string sql) => db.Dialect.Name != "sqlserver" ? sql.Replace(" + ", " || ", StringComparison.Ordinal) : sql;

    /// <param name="after">Where the page starts: after this name, or with <paramref name="byCreation"/> after this id.</param>
    /// <param name="caller">Whose stars <see cref="RepositorySummary.Starred"/> reports.</param>
    /// <param name="starredOnly">Only the repositories <paramref name="caller"/> starred.</param>
    /// <param name="byCreation">Oldest first (by id, as Quay lists) instead of by name.</param>
    public async Task<(IReadOnlyList<RepositorySummary> Items, long Total)> ListRepositoriesAsync(RepositoryKeyset? after, int limit,
        string? prefix, string? contains, bool? isPublic, RepositoryVisibility? visibleTo, string caller, bool starredOnly, bool byCreation,
        CancellationToken cancellationToken)
    {
        var filters = new List<string>();
        var parameters = new DynamicParameters();
        if (visibleTo is not null) filters.Add(visibleTo.Filter(parameters));
        if (isPublic is { } visible) filters.Add(visible ? "is_public <> 0" : "is_public = 0");
        if (starredOnly) filters.Add("id IN (SELECT s.repository_id FROM repository_stars s WHERE s.user_name = @caller)");
        if (!string.IsNullOrEmpty(prefix)) filters.Add(SqlText.Like($@"name {db.Dialect.LikeOperator} @prefix ESCAPE '\'", prefix));
        if (!string.IsNullOrEmpty(contains)) filters.Add(SqlText.Like($@"name {db.Dialect.LikeOperator} @contains ESCAPE '\'", contains));
        var where = filters.Count == 0 ? "" : "WHERE " + string.Join(" AND ", filters);
        var order = byCreation ? "id" : "name";
        var keyset = after is null ? null : byCreation ? "id > @afterId" : "name > @after";
        var page = keyset is null ? where : where.Length == 0 ? "WHERE " + keyset : where + " AND " + keyset;
        parameters.AddDynamicParams(new
        {
            after = SqlText.KeysetAfter(after?.Name), afterId = after?.Id ?? 0, limit, offset = 0, caller,
            prefix = SqlText.EscapeLike(prefix ?? "") + "%",
            contains = "%" + SqlText.EscapeLike(contains ?? "") + "%",
        });
        await using var connection = await db.OpenAsync(cancellationToken);
        var total = await connection.ExecuteScalarAsync<long>(Cmd($"SELECT COUNT(*) FROM repositories {where}", parameters, null, cancellationToken));
        var rows = await connection.QueryAsync<RepositorySummary>(Cmd($"""
            SELECT r.id AS Id, r.name AS Name, r.created_at AS CreatedAt, r.updated_at AS UpdatedAt,
                r.description AS Description, r.is_public AS IsPublic, r.quota_bytes AS QuotaBytes,
                (SELECT COUNT(*) FROM tags t WHERE t.repository_id = r.id) AS TagCount,
                (SELECT COUNT(*) FROM manifests m WHERE m.repository_id = r.id) AS ManifestCount,
                (SELECT COALESCE(SUM(b.size), 0) FROM repository_blobs l JOIN blobs b ON b.digest = l.digest WHERE l.repository_id = r.id) AS SizeBytes,
                {StarredColumn}
            FROM (SELECT id, name, created_at, updated_at, description, is_public, quota_bytes FROM repositories {page} ORDER BY {order} {db.Dialect.Page}) r
            ORDER BY r.{order}
            """, parameters, null, cancellationToken));
        return (rows.ToList(), total);
    }

    /// <summary>Whether <c>@caller</c> starred the repository <c>r</c>, as a column of a repository query.</summary>
    const string StarredColumn = "(SELECT COUNT(*) FROM repository_stars s WHERE s.repository_id = r.id AND s.user_name = @caller) AS Starred";

    public async Task<RepositorySummary?> GetRepositorySummaryAsync(string name, string caller, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<RepositorySummary>(Cmd($"""
            SELECT r.id AS Id, r.name AS Name, r.created_at AS CreatedAt, r.updated_at AS UpdatedAt,
                r.description AS Description, r.is_public AS IsPublic, r.quota_bytes AS QuotaBytes,
                (SELECT COUNT(*) FROM tags t WHERE t.repository_id = r.id) AS TagCount,
                (SELECT COUNT(*) FROM manifests m WHERE m.repository_id = r.id) AS ManifestCount,
                (SELECT COALESCE(SUM(b.size), 0) FROM repository_blobs l JOIN blobs b ON b.digest = l.digest WHERE l.repository_id = r.id) AS SizeBytes,
                {StarredColumn}
            FROM repositories r WHERE r.name = @name
            """, new { name, caller }, null, cancellationToken));
    }

    /// <summary>Stars (or unstars) a repository for a user; starring twice is one star. False when the repository is unknown.</summary>
    public async Task<bool> SetStarAsync(string name, string user, bool starred, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var id = await connection.QuerySingleOrDefaultAsync<long?>(Cmd("SELECT id FROM repositories WHERE name = @name", new { name }, tx, cancellationToken));
        if (id is null)
            return false;
        await connection.ExecuteAsync(Cmd("DELETE FROM repository_stars WHERE user_name = @user AND repository_id = @id", new { user, id }, tx, cancellationToken));
        if (starred)
            await connection.ExecuteAsync(Cmd("INSERT INTO repository_stars (user_name, repository_id, created_at) VALUES (@user, @id, @now)",
                new { user, id, now = Now() }, tx, cancellationToken));
        await tx.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>Deletes a repository's tags (one TagDeleted each), manifests, blob links and the repository. False when unknown.</summary>
    public Task<bool> DeleteRepositoryAsync(string name, string @operator, CancellationToken cancellationToken) => db.DeletingAsync(async () =>
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var id = await connection.QuerySingleOrDefaultAsync<long?>(Cmd("SELECT id FROM repositories WHERE name = @name", new { name }, tx, cancellationToken));
        if (id is null)
            return false;
        var now = Now();
        var tags = await connection.QueryAsync<(string Name, string Digest)>(Cmd(
            "SELECT name, digest FROM tags WHERE repository_id = @id ORDER BY name", new { id }, tx, cancellationToken));
        foreach (var (tag, digest) in tags)
            await outbox.AddAsync(connection, tx, new TagDeleted { Repository = name, Tag = tag, Digest = digest, Operator = @operator, Time = Time(now) }, cancellationToken);
        foreach (var table in RepositoryTables)
            await connection.ExecuteAsync(Cmd($"DELETE FROM {table} WHERE repository_id = @id", new { id }, tx, cancellationToken));
        await connection.ExecuteAsync(Cmd("DELETE FROM repositories WHERE id = @id", new { id }, tx, cancellationToken));
        // Its notifications go with it: the TagDeleted events above find none, so nothing is sent for a deleted repository.
        await connection.ExecuteAsync(Cmd("DELETE FROM notification_deliveries WHERE notification_uuid IN (SELECT uuid FROM repository_notifications WHERE repository = @name)",
            new { name }, tx, cancellationToken));
        await connection.ExecuteAsync(Cmd("DELETE FROM repository_notifications WHERE repository = @name", new { name }, tx, cancellationToken));
        await outbox.AddAsync(connection, tx, new RepositoryDeleted { Repository = name, Operator = @operator, Time = Time(now) }, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        outbox.Wake(db);
        return true;
    });

    public async Task<IReadOnlyList<string>> ListRepositoryNamesAsync(string? after, int limit, RepositoryVisibility? visibleTo,
        CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var parameters = new DynamicParameters(new { after = SqlText.KeysetAfter(after), limit, offset = 0 });
        var filters = new List<string>();
        if (after is not null) filters.Add("name > @after");
        if (visibleTo is not null) filters.Add(visibleTo.Filter(parameters));
        var where = filters.Count == 0 ? "" : "WHERE " + string.Join(" AND ", filters);
        return (await connection.QueryAsync<string>(Cmd($"SELECT name FROM repositories {where} ORDER BY name {db.Dialect.Page}",
            parameters, null, cancellationToken))).ToList();
    }
}

/// <summary>Where a repository list page starts: after the repository of this name (name order) or id (creation order).</summary>
public sealed record RepositoryKeyset(string? Name, long Id);

/// <summary>
/// The repositories a caller may see: the public ones (unless <paramref name="IncludePublic"/> is false), those of the
/// listed namespaces and the listed repositories. A null visibility means all.
/// </summary>
public sealed record RepositoryVisibility(bool IncludePublic, IReadOnlyList<string> Namespaces, IReadOnlyList<string> Repositories)
{
    /// <summary>The SQL condition on <c>repositories</c> (columns unqualified), adding its parameters.</summary>
    internal string Filter(DynamicParameters parameters)
    {
        var any = new List<string>();
        if (IncludePublic) any.Add("is_public <> 0");
        if (Repositories.Count > 0)
        {
            any.Add("name IN " + SqlText.InList(parameters, "visible_name", Repositories.Take(1000)));
        }
        for (var i = 0; i < Math.Min(Namespaces.Count, 200); i++)
        {
            parameters.Add($"visible_ns{i}", Namespaces[i]);
            parameters.Add($"visible_prefix{i}", SqlText.EscapeLike(Namespaces[i]) + "/%");
            any.Add($@"name = @visible_ns{i} OR name LIKE @visible_prefix{i} ESCAPE '\'");
        }
        return any.Count == 0 ? "1 = 0" : "(" + string.Join(" OR ", any) + ")";
    }
}

public sealed class RepositoryRow
{
    public long Id { get; init; }
    public string Name { get; init; } = "";
    public bool IsPublic { get; init; }
    public long CreatedAt { get; init; }
    public long UpdatedAt { get; init; }
}

public sealed class NamespaceRow
{
    public long Id { get; init; }
    public string Name { get; init; } = "";
    public long IsPublic { get; init; }
    public long CreatedAt { get; init; }
    public long UpdatedAt { get; init; }
    public long RepositoryCount { get; init; }
    /// <summary>What a caller without a role in the namespace may count: its public repositories.</summary>
    public long PublicRepositoryCount { get; init; }
}

public sealed class RepositorySummary
{
    public long Id { get; init; }
    public string Name { get; init; } = "";
    public long CreatedAt { get; init; }
    public long UpdatedAt { get; init; }
    public string? Description { get; init; }
    public long IsPublic { get; init; }
    public long? QuotaBytes { get; init; }
    public long TagCount { get; init; }
    public long ManifestCount { get; init; }
    public long SizeBytes { get; init; }
    /// <summary>Whether the caller the query was made for starred it (0 or 1).</summary>
    public long Starred { get; init; }
}
