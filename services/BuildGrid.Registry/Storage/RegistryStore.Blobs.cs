using System.Data.Common;
using BuildGrid.Registry.Domain;
using Dapper;

namespace BuildGrid.Registry.Storage;

/// <summary>Blob links: which blobs a repository may serve (repository_blobs), and the blob rows a link creates or refreshes.</summary>
public sealed partial class RegistryStore
{
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
        await RegistryLocks.DigestAsync(db, connection, tx, digest, ct);
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
}
