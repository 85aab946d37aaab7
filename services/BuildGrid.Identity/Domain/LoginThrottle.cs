using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace BuildGrid.Identity.Domain;

/// <summary>
/// Refuses logins of an account after repeated failures: <see cref="IdentityOptions.MaxFailedLogins"/> failures within
/// <see cref="IdentityOptions.FailureWindow"/> lock it for <see cref="IdentityOptions.Lockout"/>, doubled with every further
/// lock until a login succeeds. While locked, the password is not even checked. Per process, in memory: a restart forgets
/// (and a distributed installation runs one Identity process per replica, each counting its own).
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

    /// <summary>How long the account stays locked, or null when it may try.</summary>
    public TimeSpan? LockedFor(string account)
    {
        if (!accounts.TryGetValue(account, out var state))
            return null;
        lock (state)
        {
            var left = state.LockedUntil - time.GetUtcNow();
            return left > TimeSpan.Zero ? left : null;
        }
    }

    public void Failed(string account)
    {
        var settings = options.Value;
        if (accounts.Count >= MaxTracked)
            Sweep(settings);
        var state = accounts.GetOrAdd(account, _ => new Account());
        var now = time.GetUtcNow();
        lock (state)
        {
            while (state.Failures.TryPeek(out var oldest) && now - oldest > settings.FailureWindow)
                state.Failures.Dequeue();
            state.Failures.Enqueue(now);
            if (state.Failures.Count < settings.MaxFailedLogins)
                return;
            var delay = TimeSpan.FromTicks(Math.Min(settings.MaxLockout.Ticks, settings.Lockout.Ticks << Math.Min(state.Locks, 20)));
            state.Locks++;
            state.LockedUntil = now + delay;
            Log.AccountLocked(logger, account, delay, state.Failures.Count);
            state.Failures.Clear();
        }
    }

    public void Succeeded(string account) => accounts.TryRemove(account, out _);

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
