using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace BuildGrid.Core.Identity;

/// <summary>
/// Knows the bootstrap admin alone (<c>Basic admin:&lt;BUILDGRID_ADMIN_PASSWORD&gt;</c>): what a process without an
/// Identity service can check by itself. The Identity service's validator replaces it where it is composed.
/// </summary>
internal sealed class AdminCredentialValidator(IdentitySettings settings) : ICredentialValidator
{
    public ValueTask<Principal?> ValidateAsync(string authorization, string? clientAddress, CancellationToken cancellationToken)
    {
        if (settings.AdminPassword is not { } password
            || !AuthenticationHeaderValue.TryParse(authorization, out var header)
            || !string.Equals(header.Scheme, "Basic", StringComparison.OrdinalIgnoreCase)
            || header.Parameter is null)
            return ValueTask.FromResult<Principal?>(null);
        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header.Parameter));
        }
        catch (FormatException)
        {
            return ValueTask.FromResult<Principal?>(null);
        }
        var expected = Encoding.UTF8.GetBytes($"admin:{password}");
        var given = Encoding.UTF8.GetBytes(decoded);
        var ok = CryptographicOperations.FixedTimeEquals(SHA256.HashData(expected), SHA256.HashData(given));
        return ValueTask.FromResult(ok ? Principal.User("admin", isAdmin: true) : null);
    }
}
