using System.Text;
using Grpc.Core;

namespace BuildGrid.Hostile.Tests.Campaign;

/// <summary>
/// Who sends the campaign's requests: the caller dimension of the campaign. The campaign's host has an admin password
/// (<see cref="HostSettings"/>), so protected mode does not treat callers without credentials as the admin, and it runs as:
/// <list type="number">
/// <item>anonymous: no credentials;</item>
/// <item>wrong credentials: a real user's name with a wrong password (the failed-login throttle soon answers 429);</item>
/// <item>a guest: a real user holding only the guest role, in <see cref="GuestNamespace"/>, not in <see cref="PrivateNamespace"/>;</item>
/// <item>the admin (Basic): the only profile that may see the private data.</item>
/// </list>
/// The admin runs last, so that its accepted hostile writes (deletes included) cannot remove the planted private data
/// before the other profiles have been checked against it. The host plants private data carrying <see cref="PrivateMarker"/>
/// (a private Quay repository's description, a tag of a private repository, a project's Dockerfile, all in
/// <see cref="PrivateNamespace"/>), and <see cref="LeakCheck"/> runs on every response.
/// <para><see cref="Share"/> is the profile's budget: it sends every <see cref="Share"/>-th request of each surface's list (the
/// same fixed-seed list for every profile), so the non-admin profiles can run a deterministic subset.</para>
/// </summary>
public sealed record CallerProfile(string Name, bool MaySeePrivate, bool Authenticated, int Share, string? Authorization)
{
    /// <summary>A string planted only in private data; no response to a caller that may not see private data contains it.</summary>
    public const string PrivateMarker = "bg-private-7f3c2a91";

    public const string AdminPassword = "hostile-Adm1n-pa55word";
    public const string GuestUser = "hostileguest";
    public const string GuestPassword = "hostile-Gu3st-pa55word";
    /// <summary>The namespace holding the private data: the guest has no role in it.</summary>
    public const string PrivateNamespace = "hostile";
    /// <summary>The namespace in which the guest holds the guest role.</summary>
    public const string GuestNamespace = "guestns";

    public static string Basic(string user, string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

    public static readonly CallerProfile Anonymous = new("anonymous", MaySeePrivate: false, Authenticated: false, Share: 1, null);
    /// <summary>A real user of its own (the failed-login throttle locks this name out, not the guest's).</summary>
    public const string WrongUser = "hostilewrong";
    public const string WrongUserPassword = "hostile-Wr0ng-user-pa55word";
    public static readonly CallerProfile WrongCredentials = new("wrong credentials", MaySeePrivate: false, Authenticated: false, Share: 1,
        Basic(WrongUser, "not-the-password"));
    public static readonly CallerProfile Guest = new($"guest of '{GuestNamespace}'", MaySeePrivate: false, Authenticated: true, Share: 1,
        Basic(GuestUser, GuestPassword));
    public static readonly CallerProfile Admin = new("admin (Basic)", MaySeePrivate: true, Authenticated: true, Share: 1,
        Basic("admin", AdminPassword));

    /// <summary>The profiles the campaign runs as, in this order (the admin last).</summary>
    public static readonly IReadOnlyList<CallerProfile> All = [Anonymous, WrongCredentials, Guest, Admin];

    /// <summary>Settings of the campaign's host for these profiles: an admin password, so callers need credentials.</summary>
    public static readonly string[] HostSettings = [$"--BUILDGRID_ADMIN_PASSWORD={AdminPassword}"];

    public void Authorize(HttpRequestMessage request)
    {
        if (Authorization is not null)
            request.Headers.TryAddWithoutValidation("Authorization", Authorization);
    }

    public Metadata Metadata() => Authorization is null ? [] : new Metadata { { "authorization", Authorization } };

    /// <summary>This profile's share of a surface's requests (every <see cref="Share"/>-th, from the first).</summary>
    public IReadOnlyList<HostileRequest> Select(IReadOnlyList<HostileRequest> requests) =>
        Share <= 1 ? requests : [.. requests.Where((_, i) => i % Share == 0)];

    /// <summary>Null when <paramref name="outcome"/> is fine for this caller, else what leaked.</summary>
    public string? LeakCheck(Outcome outcome) =>
        !MaySeePrivate && outcome.Body.Contains(PrivateMarker, StringComparison.Ordinal)
            ? $"caller '{Name}' received private data: {outcome.Snippet}"
            : null;

    /// <summary>
    /// Null when a write's outcome is fine for this caller, else what is wrong: a caller without valid credentials has
    /// no write accepted (any status ≥ 400, or an imagemarket error code, is a refusal; which one is counted).
    /// </summary>
    public string? WriteCheck(HostileRequest request, Outcome outcome) =>
        !Authenticated && request.Mutating && !outcome.Rejected
            ? $"caller '{Name}' had a write accepted ({outcome.Class} {outcome.Status}): {outcome.Snippet}"
            : null;

    public override string ToString() => Name;
}
