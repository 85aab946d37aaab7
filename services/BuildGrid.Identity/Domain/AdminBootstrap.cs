using BuildGrid.Core.Identity;
using BuildGrid.Identity.Storage;
using Microsoft.AspNetCore.Identity;

namespace BuildGrid.Identity.Domain;

/// <summary>
/// At start: the bootstrap user <c>admin</c> exists, is an enabled admin, and — when BUILDGRID_ADMIN_PASSWORD is set —
/// has that password (the hash is replaced only when the setting no longer matches it).
/// </summary>
internal sealed class AdminBootstrap(IdentityStore store, PasswordHasher<UserRow> hasher, IdentitySettings settings, TimeProvider time,
    ILogger<AdminBootstrap> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var admin = new UserRow { Name = IdentityRules.AdminUser };
        var changed = await store.EnsureAdminAsync(IdentityRules.AdminUser, stored =>
            settings.AdminPassword is not { } password
            || stored is not null && hasher.VerifyHashedPassword(admin, stored, password) == PasswordVerificationResult.Success
                ? null
                : hasher.HashPassword(admin, password), time.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken);
        if (changed)
            Log.AdminPasswordSet(logger, IdentitySettings.AdminPasswordSetting);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
