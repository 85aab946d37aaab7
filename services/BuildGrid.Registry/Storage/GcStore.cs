using System.Data.Common;
using BuildGrid.Core.Storage;
using BuildGrid.Registry.Domain;
using Dapper;

namespace BuildGrid.Registry.Storage;

/// <summary>
/// What the garbage collector reads and writes: the mark (manifest references), the sweep's candidates and deletions
/// (blob_deletions, re-checked under the digest lock), and the collector's lease (registry_leases).
/// </summary>
public sealed class GcStore([FromKeyedServices(RegistryExtensions.AppId)] ServiceDatabase db, TimeProvider time)
{
    /// <summary>The name of the collector's lease in registry_leases.</summary>
    public const string Lease = "gc";

    const int KindBlob = RegistryStore.KindBlob;

    long Now() => time.GetUtcNow().ToUnixTimeMilliseconds();
    static CommandDefinition Cmd(string sql, object? parameters, DbTransaction? tx, CancellationToken ct) => new(sql, parameters, tx, cancellationToken: ct);

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
        await RegistryLocks.DigestAsync(db, connection, tx, digest, cancellationToken);
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
        await RegistryLocks.DigestAsync(db, connection, tx, digest, cancellationToken);
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

    static async Task RecordDeletionAsync(DbConnection connection, DbTransaction tx, object parameters, CancellationToken ct)
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
