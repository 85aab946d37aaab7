using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace BuildGrid.Identity.Domain;

/// <summary>
/// Refuses logins after repeated failures, counted per (account, client address): <see cref="IdentityOptions.MaxFailedLogins"/>
/// failures within <see cref="IdentityOptions.FailureWindow"/> lock that pair for <see cref="IdentityOptions.Lockout"/>,
/// doubled with every further lock until a login from there succeeds — so a stranger guessing the admin's password locks
/// out only itself. A ceiling per account, <see cref="IdentityOptions.MaxFailedLoginsPerAccount"/> failures from all
/// addresses together in the window, locks the account for everyone (guessing spread over many addresses). While locked,
/// the password is not even checked, and the failures no longer count. API tokens as Bearer are never throttled.
/// Per process, in memory: a restart forgets (and a distributed installation runs one Identity process per replica,
/// each counting its own).
/// </summary>
public sealed class LoginThrottle(IOptions<IdentityOptions> options, TimeProvider time, ILogger<LoginThrottle> logger)
{
    const int MaxTracked = 100_000;
    readonly ConcurrentDictionary<string, Account> accounts = new(StringComparer.Ordinal);

    sealed class Account
    {
        public readonly Queue<DateTimeOffset> Failures = new();
        public DateTimeOffset LockedUntil;
        public int Locks;
    }

    // The key of an account from one address; the account's own key (its name alone) holds the ceiling over all addresses.
    static string Pair(string account, string address) => account + "\n" + address;

    /// <summary>How long logins of the account from that address stay refused, or null when it may try.</summary>
    public TimeSpan? LockedFor(string account, string address)
    {
        var left = Left(Pair(account, address));
        var all = Left(account);
        return left is null ? all : all is null || left > all ? left : all;
    }

    TimeSpan? Left(string key)
    {
        if (!accounts.TryGetValue(key, out var state))
            return null;
        lock (state)
        {
            var left = state.LockedUntil - time.GetUtcNow();
            return left > TimeSpan.Zero ? left : null;
        }
    }

    public void Failed(string account, string address)
    {
        var settings = options.Value;
        if (accounts.Count >= MaxTracked)
            Sweep(settings);
        Count(Pair(account, address), settings.MaxFailedLogins, settings, $"{account} from {(address.Length > 0 ? address : "an unknown address")}");
        Count(account, settings.MaxFailedLoginsPerAccount, settings, $"{account} from every address");
    }

    void Count(string key, int limit, IdentityOptions settings, string what)
    {
        var state = accounts.GetOrAdd(key, _ => new Account());
        var now = time.GetUtcNow();
        lock (state)
        {
            while (state.Failures.TryPeek(out var oldest) && now - oldest > settings.FailureWindow)
                state.Failures.Dequeue();
            state.Failures.Enqueue(now);
            if (state.Failures.Count < limit)
                return;
            var delay = TimeSpan.FromTicks(Math.Min(settings.MaxLockout.Ticks, settings.Lockout.Ticks << Math.Min(state.Locks, 20)));
            state.Locks++;
            state.LockedUntil = now + delay;
            Log.AccountLocked(logger, what, delay, state.Failures.Count);
            state.Failures.Clear();
        }
    }

    /// <summary>A login from that address succeeded: its pair starts afresh (the account's ceiling keeps counting others).</summary>
    public void Succeeded(string account, string address) => accounts.TryRemove(Pair(account, address), out _);

    /// <summary>Forgets accounts that are neither locked nor failing lately (bounds memory under a flood of names).</summary>
    void Sweep(IdentityOptions settings)
    {
        var now = time.GetUtcNow();
        foreach (var (name, state) in accounts)
        {
            lock (state)
            {
                if (state.LockedUntil < now && (!state.Failures.TryPeek(out var last) || now - last > settings.FailureWindow))
                    accounts.TryRemove(name, out _);
            }
        }
    }
}
