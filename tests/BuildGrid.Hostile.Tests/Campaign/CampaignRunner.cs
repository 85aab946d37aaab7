using System.Globalization;
using System.Diagnostics;
using System.Text;

namespace BuildGrid.Hostile.Tests.Campaign;

/// <summary>
/// Sends a surface's requests one after another and checks each answer (no server fault, nothing private leaked), and
/// that rejected requests changed no stored rows.
/// <para>Row checks are batched: a snapshot of every database before and after a batch of requests. A batch ends after
/// <see cref="MaxBatch"/> requests or right after a write that the host accepted (its changes are legitimate, and its
/// events are applied asynchronously, so the runner waits for the outboxes to drain before the next baseline). When the
/// rows changed across a batch, its rejected requests are replayed one at a time between snapshots to name the culprit.
/// The batch size starts at one after every accepted write and doubles after every clean batch, so a batch that ends
/// with an accepted write has few rejected requests before it to replay.</para>
/// </summary>
public sealed class CampaignRunner(string dataDir, Func<CancellationToken, Task<bool>> healthy)
{
    public const int MaxBatch = 64;

    readonly Dictionary<string, SortedDictionary<string, int>> counts = new(StringComparer.Ordinal);
    readonly List<string> failures = [];

    public IReadOnlyList<string> Failures => failures;
    public int Snapshots { get; private set; }
    public int Replays { get; private set; }
    public int AcceptedWrites { get; private set; }

    public async Task RunAsync(IReadOnlyList<HostileRequest> requests, CallerProfile caller, CancellationToken ct)
    {
        var baseline = await SettleAsync(ct);
        var batch = new List<HostileRequest>();
        var limit = 1;
        foreach (var request in requests)
        {
            var outcome = await SendAsync(request, caller, ct);
            var key = $"{request.Surface} as {caller.Name}";
            Count(key, outcome.Class);
            Count(key, "total");
            if (outcome.ServerFault)
                failures.Add($"{request} as {caller.Name}: server fault {outcome.Class} {outcome.Status}: {outcome.Snippet}");
            Count(key, "leaks", 0);
            if (caller.LeakCheck(outcome) is { } leak)
            {
                Count(key, "leaks");
                failures.Add($"{request}: {leak}");
            }
            if (!caller.Authenticated && request.Mutating)
                Count(key, "writes answered " + (outcome.Class.StartsWith("grpc:", StringComparison.Ordinal) || outcome.Class.Contains("(code", StringComparison.Ordinal)
                    ? outcome.Class : outcome.Status.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            if (caller.WriteCheck(request, outcome) is { } accepted)
                failures.Add($"{request}: {accepted}");

            var acceptedWrite = request.Mutating && !outcome.Rejected;
            if (acceptedWrite)
            {
                AcceptedWrites++;
                Count(key, "accepted writes");
                baseline = await CloseBatchAsync(baseline, batch, acceptedWrite: true, caller, ct);
                batch.Clear();
                limit = 1;
                continue;
            }
            // Rejected requests, and accepted reads, must change nothing: they are checked with the batch.
            batch.Add(request);
            if (batch.Count >= limit)
            {
                baseline = await CloseBatchAsync(baseline, batch, acceptedWrite: false, caller, ct);
                batch.Clear();
                limit = Math.Min(limit * 2, MaxBatch);
            }
        }
        if (batch.Count > 0)
            await CloseBatchAsync(baseline, batch, acceptedWrite: false, caller, ct);
        if (!await healthy(ct))
            failures.Add($"the host is not healthy after the {(requests.Count > 0 ? requests[0].Surface : null)} requests");
    }

    /// <summary>Checks a batch; returns the baseline for the next one.</summary>
    async Task<DatabaseSnapshot> CloseBatchAsync(DatabaseSnapshot before, List<HostileRequest> batch, bool acceptedWrite,
        CallerProfile caller, CancellationToken ct)
    {
        var after = acceptedWrite ? await SettleAsync(ct) : await SnapshotAsync(ct);
        var changed = before.Diff(after);
        if (changed.Count == 0)
            return after;
        if (batch.Count == 0 && acceptedWrite)
            return after; // only the accepted write ran: its changes are its own
        // Name the culprit: replay each request of the batch alone between two snapshots.
        var culprits = 0;
        var current = after;
        foreach (var request in batch)
        {
            Replays++;
            var outcome = await SendAsync(request, caller, ct);
            var next = await SnapshotAsync(ct);
            var diff = current.Diff(next);
            if (diff.Count > 0 && outcome.Rejected)
            {
                culprits++;
                failures.Add($"{request}: rejected ({outcome.Class} {outcome.Status}) but changed stored rows: {string.Join(", ", diff)}; answer: {outcome.Snippet}");
            }
            current = !outcome.Rejected && request.Mutating ? await SettleAsync(ct) : next;
        }
        if (culprits == 0 && !acceptedWrite)
            failures.Add($"rows changed across a batch of {batch.Count} rejected requests, but no single request changed them again " +
                $"when replayed: {string.Join(", ", changed)}; batch: {string.Join(" | ", batch.Select(r => r.Description))}");
        return current;
    }

    async Task<DatabaseSnapshot> SnapshotAsync(CancellationToken ct)
    {
        Snapshots++;
        return await DatabaseSnapshot.TakeAsync(dataDir, ct);
    }

    /// <summary>
    /// Waits until the events of accepted writes are applied (every outbox drained) and the rows stop moving, then
    /// returns a snapshot. This only paces the campaign; no assertion depends on how long it takes.
    /// </summary>
    async Task<DatabaseSnapshot> SettleAsync(CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var last = await SnapshotAsync(ct);
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            if (await DatabaseSnapshot.OutboxesDrainedAsync(dataDir, ct))
            {
                // Quiet for 100 ms: an accepted write's audit event reaches Identity (inbox, audit entry, its own outbox)
                // after the writing service's outbox is drained; 20 ms was not enough on a loaded machine.
                await Task.Delay(100, ct);
                var again = await SnapshotAsync(ct);
                if (last.Diff(again).Count == 0)
                    return again;
                last = again;
            }
            else
                await Task.Delay(20, ct);
        }
        failures.Add("the stored rows did not settle within 15 s after an accepted write (background work keeps changing them): "
            + string.Join(", ", last.Diff(await SnapshotAsync(ct))));
        return last;
    }

    static async Task<Outcome> SendAsync(HostileRequest request, CallerProfile caller, CancellationToken ct)
    {
        try
        {
            return await request.Send(caller, ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            // The connection dropped or the answer never came: a crash or a hang on the server side.
            return new Outcome(0, "transport", Rejected: true, ServerFault: true, e.GetType().Name + ": " + e.Message);
        }
    }

    void Count(string key, string bucket, int add = 1)
    {
        if (!counts.TryGetValue(key, out var buckets))
            counts[key] = buckets = new SortedDictionary<string, int>(StringComparer.Ordinal);
        buckets[bucket] = buckets.GetValueOrDefault(bucket) + add;
    }

    /// <summary>Requests sent by surface and caller profile: status classes, leaks, unauthenticated writes by answer (replays not included).</summary>
    public string Report()
    {
        var text = new StringBuilder();
        foreach (var (surface, buckets) in counts.OrderBy(c => c.Key, StringComparer.Ordinal))
            text.AppendLine($"{surface}: " + string.Join(", ", buckets.Select(b => $"{b.Key} {b.Value}")));
        text.AppendLine(CultureInfo.InvariantCulture, $"row checks: {Snapshots} snapshots, {Replays} replays, {AcceptedWrites} accepted writes; failures: {failures.Count}");
        return text.ToString();
    }
}
