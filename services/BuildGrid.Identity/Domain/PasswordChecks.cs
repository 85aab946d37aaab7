using BuildGrid.Core.Errors;
using Google.Rpc;
using Microsoft.Extensions.Options;

namespace BuildGrid.Identity.Domain;

/// <summary>
/// Bounds how many password hashes (PBKDF2, ~100–300 ms of a core each) are verified at once, so that a flood of logins
/// with wrong or random names cannot starve everything else: at most <see cref="IdentityOptions.MaxConcurrentPasswordChecks"/>
/// run, a login waits up to <see cref="IdentityOptions.PasswordCheckWait"/> for a slot, and is otherwise refused at once with
/// RESOURCE_EXHAUSTED (reason TOO_MANY_PASSWORD_CHECKS, <c>retry_after_seconds</c> 1) — a 429 with <c>Retry-After</c> at the
/// REST doors. Tokens (SHA-256 lookups) never wait here.
/// </summary>
public sealed class PasswordChecks(IOptions<IdentityOptions> options) : IDisposable
{
    readonly SemaphoreSlim slots = new(options.Value.MaxConcurrentPasswordChecks, options.Value.MaxConcurrentPasswordChecks);

    /// <summary>A slot to hash in, released on dispose; throws RESOURCE_EXHAUSTED when none frees up in time.</summary>
    public async ValueTask<IDisposable> EnterAsync(CancellationToken cancellationToken)
    {
        if (!await slots.WaitAsync(options.Value.PasswordCheckWait, cancellationToken))
            throw Errors.Create(Code.ResourceExhausted, Reasons.TooManyPasswordChecks,
                "Too many logins are being checked at once: try again in a second.", ("retry_after_seconds", "1"));
        return new Slot(slots);
    }

    sealed class Slot(SemaphoreSlim slots) : IDisposable
    {
        int released;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref released, 1) == 0)
                slots.Release();
        }
    }

    public void Dispose() => slots.Dispose();
}
