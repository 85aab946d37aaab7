using System.Text.Json;
using BuildGrid.Registry.Domain;
using Dapper;

namespace BuildGrid.Registry.Storage;

/// <summary>What pull-through caches store: manifests fetched from an upstream, whose blobs arrive later (on their first pull).</summary>
public sealed partial class RegistryStore
{
    /// <summary>
    /// Stores a manifest an upstream served and points <paramref name="tag"/> (when given) at it. Unlike a push, its
    /// blobs and child manifests need not be here yet: a cache fetches each on its first pull, as distribution's proxy
    /// does. No ImagePushed event: nothing was pushed (the repository's first manifest still announces RepositoryCreated).
    /// </summary>
    public async Task PutCachedManifestAsync(string repository, string? tag, Digest digest, byte[] content, ParsedManifest manifest,
        CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var repositoryId = await EnsureRepositoryAsync(connection, tx, repository, "proxy-cache", cancellationToken);
        var digestText = digest.ToString();
        var now = Now();
        var exists = await connection.ExecuteScalarAsync<long>(Cmd(
            "SELECT COUNT(*) FROM manifests WHERE repository_id = @repositoryId AND digest = @digest",
            new { repositoryId, digest = digestText }, tx, cancellationToken)) > 0;
        if (!exists)
        {
            var references = manifest.RequiredBlobs.Select(b => (Digest: b.Digest.ToString(), Kind: KindBlob, b.Size))
                .Concat(manifest.Manifests.Select(m => (Digest: m.Digest.ToString(), Kind: KindManifest, m.Size))).ToList();
            await connection.ExecuteAsync(Cmd("""
                INSERT INTO manifests (repository_id, digest, media_type, size, content, total_size, subject, artifact_type, annotations, created_at)
                VALUES (@repositoryId, @digest, @mediaType, @size, @content, @total, @subject, @artifactType, @annotations, @now)
                """, new
            {
                repositoryId, digest = digestText, mediaType = manifest.MediaType, size = (long)content.Length, content,
                total = content.Length + references.Sum(r => r.Size),
                subject = manifest.Subject?.Digest.ToString(), artifactType = manifest.EffectiveArtifactType,
                annotations = manifest.Annotations.Count == 0 ? null : JsonSerializer.Serialize(manifest.Annotations), now,
            }, tx, cancellationToken));
            foreach (var (referenced, kind) in references.Select(r => (r.Digest, r.Kind)).Distinct())
                await connection.ExecuteAsync(Cmd("""
                    INSERT INTO manifest_references (repository_id, manifest_digest, digest, kind)
                    VALUES (@repositoryId, @manifest, @digest, @kind)
                    """, new { repositoryId, manifest = digestText, digest = referenced, kind }, tx, cancellationToken));
        }
        if (tag is not null
            && await connection.ExecuteAsync(Cmd("UPDATE tags SET digest = @digest, updated_at = @now WHERE repository_id = @repositoryId AND name = @tag",
                new { repositoryId, tag, digest = digestText, now }, tx, cancellationToken)) == 0)
            await connection.ExecuteAsync(Cmd("INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (@repositoryId, @tag, @digest, @now)",
                new { repositoryId, tag, digest = digestText, now }, tx, cancellationToken));
        await connection.ExecuteAsync(Cmd("UPDATE repositories SET updated_at = @now WHERE id = @repositoryId", new { repositoryId, now }, tx, cancellationToken));
        await tx.CommitAsync(cancellationToken);
        outbox.Wake(db);
    }

    /// <summary>Whether a manifest of the repository references the blob (so that the cache may link a copy it already holds).</summary>
    public async Task<bool> IsReferencedAsync(string repository, Digest digest, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(Cmd("""
            SELECT COUNT(*) FROM repositories r JOIN manifest_references m ON m.repository_id = r.id
            WHERE r.name = @repository AND m.digest = @digest AND m.kind = @kind
            """, new { repository, digest = digest.ToString(), kind = KindBlob }, null, cancellationToken)) > 0;
    }
}
