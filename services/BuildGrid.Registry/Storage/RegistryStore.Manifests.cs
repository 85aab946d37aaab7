using System.Text.Json;
using BuildGrid.Core.Storage;
using BuildGrid.Events.V1;
using BuildGrid.Registry.Domain;
using Dapper;

namespace BuildGrid.Registry.Storage;

/// <summary>Manifests, their references (manifest_references), tags and referrers; a push's ImagePushed and a delete's TagDeleted.</summary>
public sealed partial class RegistryStore
{
    const string ManifestColumns = """
        m.repository_id AS RepositoryId, m.digest AS Digest, m.media_type AS MediaType, m.size AS Size, m.content AS Content,
        m.total_size AS TotalSize, m.subject AS Subject, m.artifact_type AS ArtifactType, m.annotations AS Annotations,
        m.created_at AS CreatedAt
        """;

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
