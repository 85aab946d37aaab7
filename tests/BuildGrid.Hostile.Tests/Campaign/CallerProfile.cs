using Grpc.Core;

namespace BuildGrid.Hostile.Tests.Campaign;

/// <summary>
/// Who sends the campaign's requests: the caller dimension of the campaign. Today there is one profile, a caller without
/// credentials on a loopback-only host, which protected mode treats as the admin (DESIGN.md, Identity): it may see
/// everything, so no private-data check applies to it.
/// <para>Hook for the identity work (users, tokens, private repositories, BUILDGRID_ADMIN_PASSWORD): add profiles here —
/// e.g. "anonymous with an admin password set" (<see cref="MaySeePrivate"/> false), "a user of another namespace", "a bad
/// bearer token" — with their credentials in <see cref="Authorize"/> and <see cref="Metadata"/>, start the host with the
/// password (<see cref="HostSettings"/>). The campaign's host already plants private data carrying
/// <see cref="PrivateMarker"/> (a private Quay repository's description; plant more where identity adds private kinds),
/// and <see cref="LeakCheck"/> runs on every response: it fails any answer to a caller that may not see private data
/// and contains the marker.</para>
/// </summary>
public sealed record CallerProfile(string Name, bool MaySeePrivate, Action<HttpRequestMessage> Authorize, Func<Metadata> Metadata)
{
    /// <summary>A string planted only in private data; no response to a caller that may not see private data contains it.</summary>
    public const string PrivateMarker = "bg-private-7f3c2a91";

    public static readonly CallerProfile ProtectedModeAnonymous = new("anonymous (protected mode: admin)", MaySeePrivate: true,
        _ => { }, () => []);

    /// <summary>The profiles the campaign runs as. Identity adds its profiles here.</summary>
    public static readonly IReadOnlyList<CallerProfile> All = [ProtectedModeAnonymous];

    /// <summary>Settings of the campaign's host for these profiles (the admin password, once identity lands).</summary>
    public static readonly string[] HostSettings = [];

    /// <summary>Null when <paramref name="outcome"/> is fine for this caller, else what leaked.</summary>
    public string? LeakCheck(Outcome outcome) =>
        !MaySeePrivate && outcome.Body.Contains(PrivateMarker, StringComparison.Ordinal)
            ? $"caller '{Name}' received private data: {outcome.Snippet}"
            : null;
}
