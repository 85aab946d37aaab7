using System.Data.Common;
using BuildGrid.Core.Storage;
using BuildGrid.Registry.Domain;

namespace BuildGrid.Registry.Storage;

/// <summary>The row-lock names the registry's stores share.</summary>
static class RegistryLocks
{
    /// <summary>
    /// Serializes, per digest, the upload claim, the link and the collector's deletion. SQLite serializes every write
    /// transaction anyway; on PostgreSQL (READ COMMITTED) a collection's DELETE could otherwise miss a claim committed
    /// after its snapshot, and two replicas linking a new blob would both insert its row. The blob row itself cannot
    /// carry the lock: a new blob has none yet.
    /// </summary>
    public static Task DigestAsync(ServiceDatabase db, DbConnection connection, DbTransaction tx, Digest digest, CancellationToken ct) =>
        db.Dialect.LockAsync(connection, tx, "registry.blob:" + digest, ct);
}
