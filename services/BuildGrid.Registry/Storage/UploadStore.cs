using System.Data.Common;
using System.Diagnostics;
using BuildGrid.Core.Storage;
using BuildGrid.Registry.Domain;
using Dapper;

namespace BuildGrid.Registry.Storage;

/// <summary>
/// Upload sessions (the uploads table): their creation, expiry and the claim a session puts on the digest it is about
/// to commit, which keeps the collector off that digest until <see cref="RegistryStore.LinkBlobAsync"/> ends the session.
/// </summary>
public sealed class UploadStore([FromKeyedServices(RegistryExtensions.AppId)] ServiceDatabase db, TimeProvider time)
{
    long Now() => time.GetUtcNow().ToUnixTimeMilliseconds();
    static CommandDefinition Cmd(string sql, object? parameters, DbTransaction? tx, CancellationToken ct) => new(sql, parameters, tx, cancellationToken: ct);

    public async Task CreateUploadAsync(string id, string repository, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var now = Now();
        await connection.ExecuteAsync(Cmd("INSERT INTO uploads (id, repository, created_at, updated_at) VALUES (@id, @repository, @now, @now)",
            new { id, repository, now }, null, cancellationToken));
    }

    /// <summary>
    /// Makes a live session of the repository claim <paramref name="digest"/> before it commits a blob: from here until
    /// <see cref="RegistryStore.LinkBlobAsync"/> ends the session, no collection on any replica deletes that digest. Waits while a
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
                await RegistryLocks.DigestAsync(db, connection, tx, digest, ct);
                var now = Now();
                var parameters = new { id, repository, digest = digest.ToString(), now, cutoff = now - (long)expiry.TotalMilliseconds, gc = GcStore.Lease };
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

    /// <summary>A collection that still holds its lease is deleting @digest.</summary>
    const string DeletionInProgress = """
        SELECT CASE WHEN EXISTS (SELECT 1 FROM blob_deletions d JOIN registry_leases l ON l.name = @gc AND l.holder = d.holder
            WHERE d.digest = @digest AND l.expires_at >= @now) THEN 1 ELSE 0 END
        """;
}
