using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace BuildGrid.Identity;

/// <summary>The Identity service's settings (section <c>Identity</c>).</summary>
public sealed class IdentityOptions
{
    /// <summary>How long a robot's token lives when its creator names no expiry.</summary>
    [Range(typeof(TimeSpan), "01:00:00", "3650.00:00:00")]
    public TimeSpan RobotTokenLifetime { get; set; } = TimeSpan.FromDays(90);

    /// <summary>From how long before a robot's token lapses it is flagged <c>expires_soon</c> and warned about daily.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "365.00:00:00")]
    public TimeSpan RobotExpiryWarning { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Failed logins of one account from one client address within <see cref="FailureWindow"/> that lock that
    /// pair (others, elsewhere, may still log in to the account).</summary>
    [Range(2, 100)]
    public int MaxFailedLogins { get; set; } = 5;

    /// <summary>Failed logins of one account from all addresses together within <see cref="FailureWindow"/> that lock the
    /// account for everyone: the ceiling on guessing from many addresses. Failures of a locked pair no longer count.</summary>
    [Range(2, 100_000)]
    public int MaxFailedLoginsPerAccount { get; set; } = 100;

    /// <summary>Password hashes verified at once (each is ~100–300 ms of PBKDF2); logins beyond wait <see cref="PasswordCheckWait"/>, then get a 429.</summary>
    [Range(1, 1024)]
    public int MaxConcurrentPasswordChecks { get; set; } = Math.Max(2, Environment.ProcessorCount);

    [Range(typeof(TimeSpan), "00:00:00", "00:00:30")]
    public TimeSpan PasswordCheckWait { get; set; } = TimeSpan.FromMilliseconds(500);

    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan FailureWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The first lock's length; each further lock (before a successful login) doubles it, up to <see cref="MaxLockout"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan Lockout { get; set; } = TimeSpan.FromSeconds(30);

    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan MaxLockout { get; set; } = TimeSpan.FromMinutes(15);
}

[OptionsValidator]
internal sealed partial class IdentityOptionsValidator : IValidateOptions<IdentityOptions>;
