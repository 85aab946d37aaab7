using System.Data.Common;
using System.Diagnostics;
using System.Text.Json;
using BuildGrid.Core.Events;
using BuildGrid.Core.Storage;
using BuildGrid.Events.V1;
using BuildGrid.Registry.Domain;
using Dapper;
using Google.Protobuf.WellKnownTypes;

namespace BuildGrid.Registry.Storage;

/// <summary>
/// All SQL of the registry: repositories, blob links, manifests, tags and upload sessions. Every change that other
/// systems hear about commits its integration event in the same transaction.
/// </summary>
public sealed partial class RegistryStore([FromKeyedServices(RegistryExtensions.AppId)] ServiceDatabase db, Outbox outbox)
{
    const int KindBlob = 1;
    const int KindManifest = 2;

    const string ManifestColumns = """
        m.repository_id AS RepositoryId, m.digest AS Digest, m.media_type AS MediaType, m.size AS Size, m.content AS Content,
        m.total_size AS TotalSize, m.subject AS Subject, m.artifact_type AS ArtifactType, m.annotations AS Annotations,
        m.created_at AS CreatedAt
        """;

    static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    static Timestamp Time(long unixMs) => Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(unixMs));
    CommandDefinition Cmd(string sql, object? parameters, DbTransaction? tx, CancellationToken ct) => new(sql, parameters, tx, cancellationToken: ct);

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
        if (!string.IsNullOrEmpty(nameContains)) filters.Add(SqlText.Like($@"n.name {db.Dialect.Like} @contains ESCAPE '\'", nameContains));
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

    /// <param name="caller">Whose stars <see cref="RepositorySummary.Starred"/> reports.</param>
    /// <param name="starredOnly">Only the repositories <paramref name="caller"/> starred.</param>
    public async Task<(IReadOnlyList<RepositorySummary> Items, long Total)> ListRepositoriesAsync(string? after, int limit,
        string? prefix, string? contains, bool? isPublic, RepositoryVisibility? visibleTo, string caller, bool starredOnly,
        CancellationToken cancellationToken)
    {
        var filters = new List<string>();
        var parameters = new DynamicParameters();
        if (visibleTo is not null) filters.Add(visibleTo.Filter(parameters));
        if (isPublic is { } visible) filters.Add(visible ? "is_public <> 0" : "is_public = 0");
        if (starredOnly) filters.Add("id IN (SELECT s.repository_id FROM repository_stars s WHERE s.user_name = @caller)");
        if (!string.IsNullOrEmpty(prefix)) filters.Add(SqlText.Like($@"name {db.Dialect.Like} @prefix ESCAPE '\'", prefix));
        if (!string.IsNullOrEmpty(contains)) filters.Add(SqlText.Like($@"name {db.Dialect.Like} @contains ESCAPE '\'", contains));
        var where = filters.Count == 0 ? "" : "WHERE " + string.Join(" AND ", filters);
        var page = filters.Count == 0 ? (after is null ? "" : "WHERE name > @after") : where + (after is null ? "" : " AND name > @after");
        parameters.AddDynamicParams(new
        {
            after = SqlText.KeysetAfter(after), limit, offset = 0, caller,
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
            FROM (SELECT id, name, created_at, updated_at, description, is_public, quota_bytes FROM repositories {page} ORDER BY name {db.Dialect.Page}) r
            ORDER BY r.name
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
        foreach (var table in new[] { "tags", "manifest_references", "manifests", "repository_blobs", "repository_stars" })
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

    // ---- blobs ----

    /// <summary>The size of a blob the repository may serve, or null.</summary>
    public async Task<long?> FindLinkedBlobAsync(long repositoryId, Digest digest, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<long?>(Cmd("""
            SELECT b.size FROM repository_blobs l JOIN blobs b ON b.digest = l.digest
            WHERE l.repository_id = @repositoryId AND l.digest = @digest
            """, new { repositoryId, digest = digest.ToString() }, null, cancellationToken));
    }

    /// <summary>
    /// Records a blob whose file is in place and links it to the repository (creating the repository on its first push).
    /// Refreshes the blob's grace period. Call under the digest lock, after <see cref="BlobStore.Commit"/>.
    /// The upload session <paramref name="uploadId"/> (whose claim protected the digest until now) ends in the same
    /// transaction.
    public async Task LinkBlobAsync(string repository, Digest digest, long size, string @operator, string uploadId,
        CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var repositoryId = await EnsureRepositoryAsync(connection, tx, repository, @operator, cancellationToken);
        await LinkAsync(connection, tx, repositoryId, digest, size, cancellationToken);
        await connection.ExecuteAsync(Cmd("DELETE FROM uploads WHERE id = @uploadId", new { uploadId }, tx, cancellationToken));
        await tx.CommitAsync(cancellationToken);
        outbox.Wake(db);
    }

    async Task LinkAsync(DbConnection connection, DbTransaction tx, long repositoryId, Digest digest, long size, CancellationToken ct)
    {
        await LockDigestAsync(connection, tx, digest, ct);
        var now = Now();
        var parameters = new { repositoryId, digest = digest.ToString(), size, now };
        if (await connection.ExecuteAsync(Cmd("UPDATE blobs SET last_linked_at = @now WHERE digest = @digest", parameters, tx, ct)) == 0)
            await connection.ExecuteAsync(Cmd(
                "INSERT INTO blobs (digest, size, created_at, last_linked_at) VALUES (@digest, @size, @now, @now)", parameters, tx, ct));
        await connection.ExecuteAsync(Cmd("""
            INSERT INTO repository_blobs (repository_id, digest, linked_at)
            SELECT @repositoryId, @digest, @now WHERE NOT EXISTS
                (SELECT 1 FROM repository_blobs WHERE repository_id = @repositoryId AND digest = @digest)
            """, parameters, tx, ct));
        await connection.ExecuteAsync(Cmd("UPDATE repositories SET updated_at = @now WHERE id = @repositoryId", parameters, tx, ct));
    }

    /// <summary>
    /// Cross-repository mount: links a blob that <paramref name="from"/> may serve into <paramref name="repository"/>.
    /// Returns the blob's size, or null when the source does not have it. Call under the digest lock.
    /// </summary>
    public async Task<long?> MountAsync(string repository, string from, Digest digest, string @operator, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var size = await connection.QuerySingleOrDefaultAsync<long?>(Cmd("""
            SELECT b.size FROM repositories r JOIN repository_blobs l ON l.repository_id = r.id JOIN blobs b ON b.digest = l.digest
            WHERE r.name = @from AND l.digest = @digest
            """, new { from, digest = digest.ToString() }, tx, cancellationToken));
        if (size is null)
            return null;
        var repositoryId = await EnsureRepositoryAsync(connection, tx, repository, @operator, cancellationToken);
        await LinkAsync(connection, tx, repositoryId, digest, size.Value, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        outbox.Wake(db);
        return size;
    }

    /// <summary>Removes a repository's link to a blob (the file goes at a later collection if nothing references it).</summary>
    public async Task<bool> UnlinkBlobAsync(long repositoryId, Digest digest, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var removed = await connection.ExecuteAsync(Cmd("DELETE FROM repository_blobs WHERE repository_id = @repositoryId AND digest = @digest",
            new { repositoryId, digest = digest.ToString() }, tx, cancellationToken));
        await tx.CommitAsync(cancellationToken);
        return removed > 0;
    }

    // ---- manifests and tags ----

    public async Task<ManifestRow?> FindManifestAsync(long repositoryId, string reference, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var byTag = !Digest.LooksLikeDigest(reference);
        var sql = byTag
            ? $"SELECT {ManifestColumns} FROM tags t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest WHERE t.repository_id = @repositoryId AND t.name = @reference"
            : $"SELECT {ManifestColumns} FROM manifests m WHERE m.repository_id = @repositoryId AND m.digest = @reference";
        return await connection.QuerySingleOrDefaultAsync<ManifestRow>(Cmd(sql, new { repositoryId, reference }, null, cancellationToken));
    }

    public async Task<IReadOnlyList<string>> TagsOfAsync(long repositoryId, string digest, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<string>(Cmd("SELECT name FROM tags WHERE repository_id = @repositoryId AND digest = @digest ORDER BY name",
            new { repositoryId, digest }, null, cancellationToken))).ToList();
    }

    /// <summary>
    /// Stores a manifest whose blobs (and, for an index, child manifests) the repository holds, and points the tags at it
    /// (one ImagePushed each).
    /// Checks and writes in one write transaction, so a concurrent collection cannot remove a blob in between.
    /// </summary>
    public async Task PutManifestAsync(string repository, IReadOnlyList<string> tags, Digest digest, byte[] content, ParsedManifest manifest,
        string @operator, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var repositoryId = await EnsureRepositoryAsync(connection, tx, repository, @operator, cancellationToken);
        long total = content.Length;
        var references = new List<(string Digest, int Kind)>();
        foreach (var blob in manifest.RequiredBlobs)
        {
            var size = await connection.QuerySingleOrDefaultAsync<long?>(Cmd("""
                SELECT b.size FROM repository_blobs l JOIN blobs b ON b.digest = l.digest
                WHERE l.repository_id = @repositoryId AND l.digest = @digest
                """, new { repositoryId, digest = blob.Digest.ToString() }, tx, cancellationToken))
                ?? throw new RegistryException(RegistryError.ManifestBlobUnknown, "blob unknown to registry", blob.Digest.ToString());
            if (size != blob.Size)
                throw new RegistryException(RegistryError.ManifestInvalid, "manifest invalid",
                    $"the descriptor of {blob.Digest} says {blob.Size} bytes; the blob has {size}");
            // Touching the row refreshes its grace period and, on SQL Server, row-locks it against a concurrent sweep
            // (whose DELETE re-checks last_linked_at); a sweep that won the race leaves no row to touch.
            if (await connection.ExecuteAsync(Cmd("UPDATE blobs SET last_linked_at = @now WHERE digest = @digest",
                    new { digest = blob.Digest.ToString(), now = Now() }, tx, cancellationToken)) == 0)
                throw new RegistryException(RegistryError.ManifestBlobUnknown, "blob unknown to registry", blob.Digest.ToString());
            total += size;
            references.Add((blob.Digest.ToString(), KindBlob));
        }
        foreach (var child in manifest.Manifests)
        {
            var size = await connection.QuerySingleOrDefaultAsync<long?>(Cmd(
                "SELECT size FROM manifests WHERE repository_id = @repositoryId AND digest = @digest",
                new { repositoryId, digest = child.Digest.ToString() }, tx, cancellationToken))
                ?? throw new RegistryException(RegistryError.ManifestBlobUnknown, "manifest unknown to registry", child.Digest.ToString());
            if (size != child.Size)
                throw new RegistryException(RegistryError.ManifestInvalid, "manifest invalid",
                    $"the descriptor of {child.Digest} says {child.Size} bytes; the manifest has {size}");
            total += size;
            references.Add((child.Digest.ToString(), KindManifest));
        }

        var now = Now();
        var digestText = digest.ToString();
        var exists = await connection.ExecuteScalarAsync<long>(Cmd(
            "SELECT COUNT(*) FROM manifests WHERE repository_id = @repositoryId AND digest = @digest",
            new { repositoryId, digest = digestText }, tx, cancellationToken)) > 0;
        if (!exists)
        {
            await connection.ExecuteAsync(Cmd("""
                INSERT INTO manifests (repository_id, digest, media_type, size, content, total_size, subject, artifact_type, annotations, created_at)
                VALUES (@repositoryId, @digest, @mediaType, @size, @content, @total, @subject, @artifactType, @annotations, @now)
                """, new
            {
                repositoryId, digest = digestText, mediaType = manifest.MediaType, size = (long)content.Length, content, total,
                subject = manifest.Subject?.Digest.ToString(), artifactType = manifest.EffectiveArtifactType,
                annotations = manifest.Annotations.Count == 0 ? null : JsonSerializer.Serialize(manifest.Annotations), now,
            }, tx, cancellationToken));
            foreach (var (referenced, kind) in references.Distinct())
                await connection.ExecuteAsync(Cmd("""
                    INSERT INTO manifest_references (repository_id, manifest_digest, digest, kind)
                    VALUES (@repositoryId, @manifest, @digest, @kind)
                    """, new { repositoryId, manifest = digestText, digest = referenced, kind }, tx, cancellationToken));
        }
        foreach (var tag in tags)
        {
            var previous = await connection.QuerySingleOrDefaultAsync<string>(Cmd(
                "SELECT digest FROM tags WHERE repository_id = @repositoryId AND name = @tag", new { repositoryId, tag }, tx, cancellationToken));
            await connection.ExecuteAsync(Cmd(previous is null
                    ? "INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (@repositoryId, @tag, @digest, @now)"
                    : "UPDATE tags SET digest = @digest, updated_at = @now WHERE repository_id = @repositoryId AND name = @tag",
                new { repositoryId, tag, digest = digestText, now }, tx, cancellationToken));
            await outbox.AddAsync(connection, tx, new ImagePushed
            {
                Repository = repository, Tag = tag, Digest = digestText, MediaType = manifest.MediaType, Size = total,
                Operator = @operator, Time = Time(now), PreviousDigest = previous ?? "",
            }, cancellationToken);
        }
        await connection.ExecuteAsync(Cmd("UPDATE repositories SET updated_at = @now WHERE id = @repositoryId", new { repositoryId, now }, tx, cancellationToken));
        await tx.CommitAsync(cancellationToken);
        outbox.Wake(db);
    }

    /// <summary>Deletes one tag (TagDeleted); false when the repository has no such tag.</summary>
    public Task<bool> DeleteTagAsync(string repository, string tag, string @operator, CancellationToken cancellationToken) => db.DeletingAsync(async () =>
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var found = await connection.QuerySingleOrDefaultAsync<TagRef>(Cmd("""
            SELECT t.repository_id AS RepositoryId, t.digest AS Digest FROM tags t JOIN repositories r ON r.id = t.repository_id
            WHERE r.name = @repository AND t.name = @tag
            """, new { repository, tag }, tx, cancellationToken));
        if (found is null)
            return false;
        await connection.ExecuteAsync(Cmd("DELETE FROM tags WHERE repository_id = @id AND name = @tag", new { id = found.RepositoryId, tag }, tx, cancellationToken));
        await outbox.AddAsync(connection, tx, new TagDeleted
        {
            Repository = repository, Tag = tag, Digest = found.Digest, Operator = @operator, Time = Time(Now()),
        }, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        outbox.Wake(db);
        return true;
    });

    /// <summary>Deletes a manifest and every tag on it (one TagDeleted each); false when the repository has no such manifest.</summary>
    public Task<bool> DeleteManifestAsync(string repository, Digest digest, string @operator, CancellationToken cancellationToken) => db.DeletingAsync(async () =>
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var repositoryId = await connection.QuerySingleOrDefaultAsync<long?>(Cmd("SELECT id FROM repositories WHERE name = @repository",
            new { repository }, tx, cancellationToken));
        var parameters = new { repositoryId, digest = digest.ToString() };
        if (repositoryId is null || await connection.ExecuteAsync(Cmd(
                "DELETE FROM manifests WHERE repository_id = @repositoryId AND digest = @digest", parameters, tx, cancellationToken)) == 0)
            return false;
        var tags = await connection.QueryAsync<string>(Cmd("SELECT name FROM tags WHERE repository_id = @repositoryId AND digest = @digest ORDER BY name",
            parameters, tx, cancellationToken));
        var now = Now();
        foreach (var tag in tags)
            await outbox.AddAsync(connection, tx, new TagDeleted
            {
                Repository = repository, Tag = tag, Digest = digest.ToString(), Operator = @operator, Time = Time(now),
            }, cancellationToken);
        await connection.ExecuteAsync(Cmd("DELETE FROM tags WHERE repository_id = @repositoryId AND digest = @digest", parameters, tx, cancellationToken));
        await connection.ExecuteAsync(Cmd("DELETE FROM manifest_references WHERE repository_id = @repositoryId AND manifest_digest = @digest",
            parameters, tx, cancellationToken));
        await tx.CommitAsync(cancellationToken);
        outbox.Wake(db);
        return true;
    });

    public async Task<IReadOnlyList<TagRow>> ListTagsAsync(long repositoryId, string? after, int? limit, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var where = after is null ? "" : "AND t.name > @after";
        var page = limit is null ? "" : db.Dialect.Page;
        return (await connection.QueryAsync<TagRow>(Cmd($"""
            SELECT t.name AS Name, t.digest AS Digest, m.media_type AS MediaType, m.size AS Size, t.updated_at AS UpdatedAt
            FROM tags t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
            WHERE t.repository_id = @repositoryId {where} ORDER BY t.name {page}
            """, new { repositoryId, after = SqlText.KeysetAfter(after), limit = limit ?? 0, offset = 0 }, null, cancellationToken))).ToList();
    }

    /// <summary>The manifests of a repository whose subject is <paramref name="subject"/> (the referrers API).</summary>
    public async Task<IReadOnlyList<ManifestRow>> ListReferrersAsync(long repositoryId, Digest subject, string? artifactType,
        CancellationToken cancellationToken)
    {
        if (artifactType is not null && !SqlText.Storable(artifactType))
            return [];
        await using var connection = await db.OpenAsync(cancellationToken);
        var filter = artifactType is null ? "" : "AND m.artifact_type = @artifactType";
        return (await connection.QueryAsync<ManifestRow>(Cmd($"""
            SELECT {ManifestColumns} FROM manifests m WHERE m.repository_id = @repositoryId AND m.subject = @subject {filter} ORDER BY m.digest
            """, new { repositoryId, subject = subject.ToString(), artifactType }, null, cancellationToken))).ToList();
    }

    // ---- upload sessions ----

    public async Task CreateUploadAsync(string id, string repository, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var now = Now();
        await connection.ExecuteAsync(Cmd("INSERT INTO uploads (id, repository, created_at, updated_at) VALUES (@id, @repository, @now, @now)",
            new { id, repository, now }, null, cancellationToken));
    }

    /// <summary>
    /// Makes a live session of the repository claim <paramref name="digest"/> before it commits a blob: from here until
    /// <see cref="LinkBlobAsync"/> ends the session, no collection on any replica deletes that digest. Waits while a
    /// collection is deleting it (milliseconds; a deletion whose collection lost its lease is ignored). False when the
    /// session is unknown or expired.
    /// </summary>
    public async Task<bool> ClaimUploadAsync(string id, string repository, Digest digest, TimeSpan expiry, CancellationToken cancellationToken) =>
        await ClaimAsync("""
            UPDATE uploads SET updated_at = @now, digest = @digest
            WHERE id = @id AND repository = @repository AND updated_at >= @cutoff
            """, id, repository, digest, expiry, cancellationToken);

    /// <summary>A session for a monolithic upload (POST ?digest=), created already claiming its digest.</summary>
    public async Task ClaimMonolithicAsync(string id, string repository, Digest digest, CancellationToken cancellationToken) =>
        await ClaimAsync("""
            INSERT INTO uploads (id, repository, created_at, updated_at, digest) VALUES (@id, @repository, @now, @now, @digest)
            """, id, repository, digest, TimeSpan.Zero, cancellationToken);

    async Task<bool> ClaimAsync(string sql, string id, string repository, Digest digest, TimeSpan expiry, CancellationToken ct)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            await using (var connection = await db.OpenAsync(ct))
            {
                await using var tx = await db.Dialect.BeginWriteAsync(connection, ct);
                await LockDigestAsync(connection, tx, digest, ct);
                var now = Now();
                var parameters = new { id, repository, digest = digest.ToString(), now, cutoff = now - (long)expiry.TotalMilliseconds, gc = GcLease };
                if (!await connection.ExecuteScalarAsync<bool>(Cmd(DeletionInProgress, parameters, tx, ct)))
                {
                    var claimed = await connection.ExecuteAsync(Cmd(sql, parameters, tx, ct)) == 1;
                    await tx.CommitAsync(ct);
                    return claimed;
                }
            }
            if (waited.Elapsed > TimeSpan.FromMinutes(1))
                throw new RegistryException(RegistryError.Unknown, "blob is being deleted",
                    $"a garbage collection has been deleting {digest} for a minute; try again later");
            await Task.Delay(20, ct);
        }
    }

    /// <summary>
    /// Serializes, per digest, the upload claim, the link and the collector's deletion. SQLite serializes every write
    /// transaction anyway; on PostgreSQL (READ COMMITTED) a collection's DELETE could otherwise miss a claim committed
    /// after its snapshot, and two replicas linking a new blob would both insert its row. The blob row itself cannot
    /// carry the lock: a new blob has none yet.
    /// </summary>
    Task LockDigestAsync(DbConnection connection, DbTransaction tx, Digest digest, CancellationToken ct) =>
        db.Dialect.LockAsync(connection, tx, "registry.blob:" + digest, ct);

    /// <summary>The name of the collector's lease in registry_leases.</summary>
    public const string GcLease = "gc";

    /// <summary>A collection that still holds its lease is deleting @digest.</summary>
    const string DeletionInProgress = """
        SELECT CASE WHEN EXISTS (SELECT 1 FROM blob_deletions d JOIN registry_leases l ON l.name = @gc AND l.holder = d.holder
            WHERE d.digest = @digest AND l.expires_at >= @now) THEN 1 ELSE 0 END
        """;

    /// <summary>A live session of the repository (not expired), refreshing its expiry; null otherwise.</summary>
    public async Task<bool> TouchUploadAsync(string id, string repository, TimeSpan expiry, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var now = Now();
        return await connection.ExecuteAsync(Cmd(
            "UPDATE uploads SET updated_at = @now WHERE id = @id AND repository = @repository AND updated_at >= @cutoff",
            new { id, repository, now, cutoff = now - (long)expiry.TotalMilliseconds }, null, cancellationToken)) == 1;
    }

    public Task<bool> DeleteUploadAsync(string id, CancellationToken cancellationToken) => db.DeletingAsync(async () =>
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(Cmd("DELETE FROM uploads WHERE id = @id", new { id }, null, cancellationToken)) == 1;
    });

    public async Task<IReadOnlyList<string>> ExpiredUploadsAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<string>(Cmd("SELECT id FROM uploads WHERE updated_at < @cutoff",
            new { cutoff = cutoff.ToUnixTimeMilliseconds() }, null, cancellationToken))).ToList();
    }

    public async Task<bool> UploadExistsAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(Cmd("SELECT COUNT(*) FROM uploads WHERE id = @id", new { id }, null, cancellationToken)) > 0;
    }

    // ---- garbage collection ----

    /// <summary>Mark: every blob digest some manifest references, in any repository.</summary>
    public async Task<HashSet<string>> ReferencedBlobsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<string>(Cmd("SELECT DISTINCT digest FROM manifest_references WHERE kind = @kind",
            new { kind = KindBlob }, null, cancellationToken))).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>Blobs no manifest references and not linked since <paramref name="cutoff"/>: the sweep's candidates.</summary>
    public async Task<IReadOnlyList<(string Digest, long Size)>> SweepCandidatesAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<(string, long)>(Cmd("""
            SELECT b.digest, b.size FROM blobs b
            WHERE b.last_linked_at < @cutoff AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.digest = b.digest AND r.kind = @kind)
            ORDER BY b.digest
            """, new { cutoff = cutoff.ToUnixTimeMilliseconds(), kind = KindBlob }, null, cancellationToken))).ToList();
    }

    /// <summary>
    /// Removes a blob's rows if, checked again inside the write transaction, it is still unreferenced, outside its grace
    /// period and claimed by no live upload session (<paramref name="uploadCutoff"/>: sessions touched before it are
    /// expired), and records the deletion under <paramref name="holder"/>'s lease. The caller deletes the file, then
    /// calls <see cref="EndDeletionAsync"/>.
    /// </summary>
    public Task<bool> DeleteBlobIfUnreferencedAsync(Digest digest, DateTimeOffset cutoff, DateTimeOffset uploadCutoff, string holder,
        CancellationToken cancellationToken) => db.DeletingAsync(async () =>
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        await LockDigestAsync(connection, tx, digest, cancellationToken);
        var parameters = new
        {
            digest = digest.ToString(), cutoff = cutoff.ToUnixTimeMilliseconds(), kind = KindBlob, holder, now = Now(),
            uploadCutoff = uploadCutoff.ToUnixTimeMilliseconds(),
        };
        var deleted = await connection.ExecuteAsync(Cmd("""
            DELETE FROM blobs WHERE digest = @digest AND last_linked_at < @cutoff
                AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.digest = @digest AND r.kind = @kind)
                AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.digest = @digest AND u.updated_at >= @uploadCutoff)
            """, parameters, tx, cancellationToken));
        if (deleted == 0)
            return false;
        await connection.ExecuteAsync(Cmd("DELETE FROM repository_blobs WHERE digest = @digest", parameters, tx, cancellationToken));
        await RecordDeletionAsync(connection, tx, parameters, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return true;
    });

    /// <summary>
    /// Records the deletion of a blob file that has no row (a stray) if, inside the write transaction, it still has none
    /// and no live upload session claims it. The caller deletes the file, then calls <see cref="EndDeletionAsync"/>.
    /// </summary>
    public Task<bool> BeginStrayDeletionAsync(Digest digest, DateTimeOffset uploadCutoff, string holder, CancellationToken cancellationToken) => db.DeletingAsync(async () =>
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        await LockDigestAsync(connection, tx, digest, cancellationToken);
        var parameters = new { digest = digest.ToString(), holder, now = Now(), uploadCutoff = uploadCutoff.ToUnixTimeMilliseconds() };
        var free = await connection.ExecuteScalarAsync<bool>(Cmd("""
            SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM blobs WHERE digest = @digest)
                AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.digest = @digest AND u.updated_at >= @uploadCutoff) THEN 1 ELSE 0 END
            """, parameters, tx, cancellationToken));
        if (!free)
            return false;
        await RecordDeletionAsync(connection, tx, parameters, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return true;
    });

    async Task RecordDeletionAsync(DbConnection connection, DbTransaction tx, object parameters, CancellationToken ct)
    {
        await connection.ExecuteAsync(Cmd("DELETE FROM blob_deletions WHERE digest = @digest", parameters, tx, ct));
        await connection.ExecuteAsync(Cmd("INSERT INTO blob_deletions (digest, holder, created_at) VALUES (@digest, @holder, @now)",
            parameters, tx, ct));
    }

    public Task EndDeletionAsync(Digest digest, CancellationToken cancellationToken) => db.DeletingAsync(async () =>
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(Cmd("DELETE FROM blob_deletions WHERE digest = @digest", new { digest = digest.ToString() }, null,
            cancellationToken));
    });

    /// <summary>
    /// Deletions left by a collection that died (or lost its lease) mid-way, taken over by <paramref name="holder"/>, which
    /// now holds the lease: those whose blob came back (a row, or a live claim of an upload that ignored the lapsed
    /// deletion) are dropped, the rest are returned for the caller to finish (delete the file, then end the deletion).
    /// </summary>
    public async Task<IReadOnlyList<Digest>> TakeOverDeletionsAsync(string holder, DateTimeOffset uploadCutoff, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var parameters = new { holder, uploadCutoff = uploadCutoff.ToUnixTimeMilliseconds() };
        await connection.ExecuteAsync(Cmd("""
            DELETE FROM blob_deletions WHERE holder <> @holder AND (EXISTS (SELECT 1 FROM blobs b WHERE b.digest = blob_deletions.digest)
                OR EXISTS (SELECT 1 FROM uploads u WHERE u.digest = blob_deletions.digest AND u.updated_at >= @uploadCutoff))
            """, parameters, tx, cancellationToken));
        await connection.ExecuteAsync(Cmd("UPDATE blob_deletions SET holder = @holder", parameters, tx, cancellationToken));
        var digests = (await connection.QueryAsync<string>(Cmd("SELECT digest FROM blob_deletions ORDER BY digest", parameters, tx,
            cancellationToken))).Select(Digest.Parse).ToList();
        await tx.CommitAsync(cancellationToken);
        return digests;
    }

    /// <summary>
    /// Takes or renews the lease <paramref name="name"/> for <paramref name="holder"/> until now + <paramref name="duration"/>:
    /// true when the holder has it (it was free, lapsed, or already the holder's).
    /// </summary>
    public async Task<bool> TryLeaseAsync(string name, string holder, TimeSpan duration, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        // Two replicas taking a free lease would otherwise both pass NOT EXISTS and one fail on the key (PostgreSQL).
        await db.Dialect.LockAsync(connection, tx, "registry.lease:" + name, cancellationToken);
        var now = Now();
        var parameters = new { name, holder, now, expires = now + (long)duration.TotalMilliseconds };
        var taken = await connection.ExecuteAsync(Cmd("""
            UPDATE registry_leases SET holder = @holder, expires_at = @expires WHERE name = @name AND (holder = @holder OR expires_at < @now)
            """, parameters, tx, cancellationToken)) == 1
            || await connection.ExecuteAsync(Cmd("""
                INSERT INTO registry_leases (name, holder, expires_at)
                SELECT @name, @holder, @expires WHERE NOT EXISTS (SELECT 1 FROM registry_leases WHERE name = @name)
                """, parameters, tx, cancellationToken)) == 1;
        await tx.CommitAsync(cancellationToken);
        return taken;
    }

    /// <summary>Gives a lease up (only if <paramref name="holder"/> still holds it).</summary>
    public async Task ReleaseLeaseAsync(string name, string holder, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(Cmd("DELETE FROM registry_leases WHERE name = @name AND holder = @holder", new { name, holder }, null,
            cancellationToken));
    }

    public async Task<bool> BlobRowExistsAsync(Digest digest, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(Cmd("SELECT COUNT(*) FROM blobs WHERE digest = @digest",
            new { digest = digest.ToString() }, null, cancellationToken)) > 0;
    }

}

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

public sealed class ManifestRow
{
    public long RepositoryId { get; init; }
    public string Digest { get; init; } = "";
    public string MediaType { get; init; } = "";
    public long Size { get; init; }
    public byte[] Content { get; init; } = [];
    public long TotalSize { get; init; }
    public string? Subject { get; init; }
    public string? ArtifactType { get; init; }
    public string? Annotations { get; init; }
    public long CreatedAt { get; init; }
}

sealed class TagRef
{
    public long RepositoryId { get; init; }
    public string Digest { get; init; } = "";
}

public sealed class TagRow
{
    public string Name { get; init; } = "";
    public string Digest { get; init; } = "";
    public string MediaType { get; init; } = "";
    public long Size { get; init; }
    public long UpdatedAt { get; init; }
}
