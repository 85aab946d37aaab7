using BuildGrid.Core.Storage;
using BuildGrid.Registry.Storage;
using Dapper;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace BuildGrid.Registry.Proxy;

/// <summary>An upstream registry a namespace caches: from settings (<see cref="FromSettings"/>) or from the API.</summary>
public sealed record Upstream(string Namespace, Uri Url, string Username, string Password, bool FromSettings, long UpdatedAt)
{
    public bool HasCredentials => Username.Length > 0;
}

/// <summary>
/// The namespaces that are pull-through caches: <c>Registry:ProxyCache:&lt;namespace&gt;</c> settings, and the
/// <c>proxy_caches</c> table for those configured through the API. Every /v2/ request asks <see cref="FindAsync"/>,
/// so the table is read into a snapshot that is refreshed after a change here and every few seconds (a change made by
/// another replica is seen within <see cref="RefreshInterval"/>).
/// </summary>
public sealed class ProxyCacheStore : IDisposable
{
    static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(5);
    readonly ServiceDatabase db;
    readonly TimeProvider time;
    readonly IDataProtector secrets;
    readonly IReadOnlyDictionary<string, Upstream> fromSettings;
    readonly SemaphoreSlim refresh = new(1, 1);

    public void Dispose() => refresh.Dispose();
    volatile Snapshot snapshot = new(new Dictionary<string, Upstream>(), 0, Stale: true);

    sealed record Snapshot(IReadOnlyDictionary<string, Upstream> Caches, long LoadedAt, bool Stale = false);

    public ProxyCacheStore([FromKeyedServices(RegistryExtensions.AppId)] ServiceDatabase db, IDataProtectionProvider protection,
        IOptions<ProxyCacheSettings> settings, TimeProvider time)
    {
        this.db = db;
        this.time = time;
        secrets = protection.CreateProtector("BuildGrid.Registry.ProxyCacheSecrets");
        fromSettings = settings.Value.ToDictionary(e => e.Key,
            e => new Upstream(e.Key, UpstreamUrls.Parse(e.Value.Url, out var url) is null ? url! : throw new InvalidOperationException(e.Key),
                e.Value.Username ?? "", e.Value.Password ?? "", true, 0), StringComparer.Ordinal);
    }

    /// <summary>The cache that <paramref name="repository"/>'s namespace is, or null (most namespaces are not caches).</summary>
    public async ValueTask<Upstream?> FindAsync(string repository, CancellationToken cancellationToken)
    {
        var ns = RegistryAuthNamespace(repository);
        if (fromSettings.TryGetValue(ns, out var configured))
            return configured;
        var current = snapshot;
        if (current.Stale || Environment.TickCount64 - current.LoadedAt > RefreshInterval.TotalMilliseconds)
            current = await RefreshAsync(current, cancellationToken);
        return current.Caches.GetValueOrDefault(ns);
    }

    static string RegistryAuthNamespace(string repository) => Distribution.RegistryAuth.NamespaceOf(repository);

    async Task<Snapshot> RefreshAsync(Snapshot seen, CancellationToken cancellationToken)
    {
        await refresh.WaitAsync(cancellationToken);
        try
        {
            if (!ReferenceEquals(snapshot, seen))
                return snapshot;
            var caches = (await ListStoredAsync(cancellationToken)).ToDictionary(u => u.Namespace, StringComparer.Ordinal);
            return snapshot = new Snapshot(caches, Environment.TickCount64);
        }
        finally
        {
            refresh.Release();
        }
    }

    /// <summary>Every cache: the settings' first, then the API's (a namespace in settings hides a stored row).</summary>
    public async Task<IReadOnlyList<Upstream>> ListAsync(CancellationToken cancellationToken) =>
        fromSettings.Values.OrderBy(u => u.Namespace, StringComparer.Ordinal)
            .Concat((await ListStoredAsync(cancellationToken)).Where(u => !fromSettings.ContainsKey(u.Namespace)))
            .ToList();

    public async Task<Upstream?> GetAsync(string @namespace, CancellationToken cancellationToken) =>
        fromSettings.GetValueOrDefault(@namespace)
        ?? (await ListStoredAsync(cancellationToken)).FirstOrDefault(u => u.Namespace == @namespace);

    public bool IsFromSettings(string @namespace) => fromSettings.ContainsKey(@namespace);

    async Task<IReadOnlyList<Upstream>> ListStoredAsync(CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string Namespace, string Url, string Username, string Password, long UpdatedAt)>(new CommandDefinition(
            "SELECT namespace, url, username, password, updated_at FROM proxy_caches ORDER BY namespace", cancellationToken: cancellationToken));
        return rows.Select(r => new Upstream(r.Namespace, new Uri(r.Url), r.Username,
            r.Password.Length == 0 ? "" : secrets.Unprotect(r.Password), false, r.UpdatedAt)).ToList();
    }

    /// <summary>
    /// Creates or replaces a namespace's cache. A null <paramref name="password"/> keeps the stored one (the API never
    /// returns it, so a client changing only the URL cannot send it back).
    /// </summary>
    public async Task<Upstream> SetAsync(string @namespace, Uri url, string username, string? password, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var stored = password is null
            ? await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "SELECT password FROM proxy_caches WHERE namespace = @namespace", new { @namespace }, tx, cancellationToken: cancellationToken)) ?? ""
            : password.Length == 0 ? "" : secrets.Protect(password);
        var parameters = new { @namespace, url = url.ToString(), username, password = stored, now };
        if (await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE proxy_caches SET url = @url, username = @username, password = @password, updated_at = @now WHERE namespace = @namespace",
                parameters, tx, cancellationToken: cancellationToken)) == 0)
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO proxy_caches (namespace, url, username, password, updated_at) VALUES (@namespace, @url, @username, @password, @now)",
                parameters, tx, cancellationToken: cancellationToken));
        await tx.CommitAsync(cancellationToken);
        snapshot = snapshot with { Stale = true };
        return new Upstream(@namespace, url, username, stored.Length == 0 ? "" : secrets.Unprotect(stored), false, now);
    }

    public async Task<bool> DeleteAsync(string @namespace, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var deleted = await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM proxy_caches WHERE namespace = @namespace", new { @namespace }, cancellationToken: cancellationToken)) > 0;
        snapshot = snapshot with { Stale = true };
        return deleted;
    }
}
