using System.Net;
using System.Security.Cryptography;
using System.Text;
using BuildGrid.Core.Clients;
using BuildGrid.Core.Hosting;
using Microsoft.Extensions.Configuration;

namespace BuildGrid.Core.Identity;

/// <summary>
/// BUILDGRID_ADMIN_PASSWORD and BUILDGRID_SERVICE_KEY, and what follows from them and the listen addresses.
/// <para><b>Protected mode</b> (as Redis does it): while the process listens only on loopback addresses and neither
/// an admin password nor a service key is set, calls without credentials act as the admin, so the seeds' curl
/// examples run as written on a local install. Listening on any other address without either refuses to start.</para>
/// </summary>
public sealed class IdentitySettings
{
    public const string AdminPasswordSetting = "BUILDGRID_ADMIN_PASSWORD";
    public const string ServiceKeySetting = "BUILDGRID_SERVICE_KEY";

    public string? AdminPassword { get; init; }
    public bool ProtectedMode { get; init; }
    /// <summary>The HMAC key of the internal identity tokens every process of one installation shares.</summary>
    public required byte[] ServiceKey { get; init; }

    /// <param name="applicationName">The process's program (<c>BuildGrid.Identity</c>, ...): a service's own program is
    /// always one piece of a distributed installation, whether or not it calls another service.</param>
    public static IdentitySettings From(IConfiguration configuration, BuildGridSettings settings, string? applicationName = null)
    {
        var adminPassword = NonEmpty(configuration[AdminPasswordSetting]);
        var serviceKey = NonEmpty(configuration[ServiceKeySetting]);
        var loopbackOnly = IsLoopback(settings.RestUrl) && IsLoopback(settings.GrpcUrl);
        if (!loopbackOnly && adminPassword is null && serviceKey is null)
            throw new StartupException(
                $"BuildGrid listens on {settings.RestUrl} and {settings.GrpcUrl}, not only on loopback, and {AdminPasswordSetting} is not set. " +
                $"Refusing to start: anyone who can reach it would be the admin. Set {AdminPasswordSetting} (and {ServiceKeySetting} on every " +
                "process of a distributed installation), or listen on 127.0.0.1.");
        var protectedMode = loopbackOnly && adminPassword is null && serviceKey is null;
        var distributed = settings.DaprEnabled || ServiceAddresses.AppIds.Any(id => ServiceAddresses.IsRemote(configuration, id))
            || applicationName is not null && ServiceAddresses.OwnAppIdOf(applicationName) is not null;
        byte[] key;
        if (serviceKey is not null)
            key = SHA256.HashData(Encoding.UTF8.GetBytes(serviceKey));
        else if (protectedMode)
            // Every process of a loopback-only installation without credentials agrees on this key; there, loopback is
            // the boundary and a caller without credentials is the admin anyway.
            key = SHA256.HashData("buildgrid protected mode: loopback only"u8);
        else if (!distributed)
            key = RandomNumberGenerator.GetBytes(32); // the all-in-one process signs and verifies: a fresh secret each start
        else
            throw new StartupException(
                $"The services run as separate processes: set {ServiceKeySetting} to the same secret on every process, " +
                "so that they can trust the identity each call carries.");
        return new IdentitySettings { AdminPassword = adminPassword, ProtectedMode = protectedMode, ServiceKey = key };
    }

    static bool IsLoopback(Uri url) =>
        url.IsLoopback || IPAddress.TryParse(url.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address);

    static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
