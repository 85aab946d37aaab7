using BuildGrid.Builds.Queue;
using BuildGrid.Builds.Storage;

namespace BuildGrid.Builds.Worker;

/// <summary>
/// A run's log as the worker writes it: secret values masked, lines stored in batches (at least every 200 ms) and
/// watchers told through Redis. Bounded: past the limit one note is stored and the rest dropped.
/// </summary>
public sealed class RunLog : IAsyncDisposable
{
    readonly RunStore store;
    readonly BuildQueue queue;
    readonly TimeProvider time;
    readonly string runId;
    string[] secrets;
    readonly int maxLines;
    readonly List<(string Text, long At)> pending = [];
    readonly SemaphoreSlim flushing = new(1, 1);
    readonly Timer timer;
    long next;
    bool truncated;

    RunLog(RunStore store, BuildQueue queue, TimeProvider time, string runId, IEnumerable<string> secrets, int maxLines, long next)
    {
        (this.store, this.queue, this.time, this.runId, this.maxLines, this.next) = (store, queue, time, runId, maxLines, next);
        // Longest first, so a secret that contains another is masked whole.
        this.secrets = secrets.Where(s => s.Length > 0).Distinct().OrderByDescending(s => s.Length).ToArray();
        timer = new Timer(_ => _ = FlushQuietlyAsync(), null, 200, 200);
    }

    public static async Task<RunLog> OpenAsync(RunStore store, BuildQueue queue, TimeProvider time, string runId, IEnumerable<string> secrets, int maxLines,
        CancellationToken cancellationToken) =>
        new(store, queue, time, runId, secrets, maxLines, await store.LogLengthAsync(runId, cancellationToken));

    /// <summary>Masks <paramref name="secret"/> too from now on (a credential the worker minted for this run).</summary>
    public void AddSecret(string secret)
    {
        lock (pending)
            secrets = [.. secrets.Append(secret).Where(s => s.Length > 0).Distinct().OrderByDescending(s => s.Length)];
    }

    public string Mask(string text)
    {
        var secrets = this.secrets;
        foreach (var secret in secrets)
            text = text.Replace(secret, "***", StringComparison.Ordinal);
        // Whatever a URL carries as user info (a token in a clone URL a script prints) is masked too.
        text = BuildGrid.Core.Errors.Redaction.UrlUserInfoMasked(text);
        return text;
    }

    public void Write(string line)
    {
        lock (pending)
        {
            if (next + pending.Count >= maxLines)
            {
                if (!truncated)
                    pending.Add(($"[buildgrid] log truncated at {maxLines} lines", time.GetUtcNow().ToUnixTimeMilliseconds()));
                truncated = true;
                return;
            }
            pending.Add((Mask(line), time.GetUtcNow().ToUnixTimeMilliseconds()));
        }
    }

    public async Task FlushAsync()
    {
        await flushing.WaitAsync();
        try
        {
            List<(string, long)> batch;
            lock (pending)
            {
                if (pending.Count == 0) return;
                batch = [.. pending];
                pending.Clear();
            }
            try
            {
                await store.AppendLogAsync(runId, next, batch, CancellationToken.None);
            }
            catch
            {
                // Keep the lines, in order, for the next flush.
                lock (pending) pending.InsertRange(0, batch);
                throw;
            }
            next += batch.Count;
            try { await queue.LogAppendedAsync(runId, next, CancellationToken.None); }
            catch (StackExchange.Redis.RedisException) { /* watchers also poll */ }
        }
        finally
        {
            flushing.Release();
        }
    }

    /// <summary>The periodic flush: a failure leaves the lines pending, and the next flush (or the final one) tries again.</summary>
    async Task FlushQuietlyAsync()
    {
        try { await FlushAsync(); }
        catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException or TimeoutException) { }
    }

    public async ValueTask DisposeAsync()
    {
        await timer.DisposeAsync();
        await FlushAsync();
    }
}
