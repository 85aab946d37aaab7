using System.Net;
using System.Text.Json;
using BuildGrid.Core.Identity;
using BuildGrid.Tests.Identity;

namespace BuildGrid.Tests.Quay;

/// <summary>
/// Quay's stars (POST/GET /api/v1/user/starred, DELETE /api/v1/user/starred/{repository}) and what they change in the
/// seed's repository list (<c>starred=true</c>, <c>is_starred</c>): each user's own, on a host that requires credentials.
/// </summary>
public sealed class QuayStarTests(GuardedHost guarded) : IClassFixture<GuardedHost>
{
    static string Unique(string prefix) => prefix + Guid.NewGuid().ToString("N")[..8];

    QuayApi As(Principal? principal) => new(guarded.Http(principal));

    static string[] Names(JsonElement list) =>
        [.. list.GetProperty("repositories").EnumerateArray().Select(r => r.GetProperty("namespace").GetString() + "/" + r.GetProperty("name").GetString()).Order()];

    static bool Starred(JsonElement list, string repository) =>
        list.GetProperty("repositories").EnumerateArray().Single(r => r.GetProperty("namespace").GetString() + "/" + r.GetProperty("name").GetString() == repository)
            .GetProperty("is_starred").GetBoolean();

    [Fact]
    public async Task A_user_stars_unstars_and_lists_their_own_stars()
    {
        var ns = Unique("stars");
        var admin = As(Principal.User("root", isAdmin: true));
        var pub = await admin.CreateRepositoryAsync(ns, "pub", "public", "the public one");
        var priv = await admin.CreateRepositoryAsync(ns, "priv", "private");
        var alice = As(GuardedHost.User("alice", ns, Role.Guest));
        var bob = As(GuardedHost.User("bob", Unique("elsewhere"), Role.Owner));

        var created = await alice.ExpectAsync(HttpStatusCode.Created, HttpMethod.Post, "/api/v1/user/starred", new { @namespace = ns, repository = "pub" });
        Assert.Equal($$"""{"namespace":"{{ns}}","repository":"pub"}""", created.GetRawText());
        await alice.ExpectAsync(HttpStatusCode.Created, HttpMethod.Post, "/api/v1/user/starred", new { @namespace = ns, repository = "pub" });   // twice: one star

        var starred = await alice.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, "/api/v1/user/starred");
        Assert.Equal($$"""{"repositories":[{"namespace":"{{ns}}","name":"pub","description":"the public one","is_public":true}]}""", starred.GetRawText());
        Assert.Equal([pub], Names(await alice.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, "/api/v1/repository?starred=true")));
        var inNamespace = await alice.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository?namespace={ns}");
        Assert.Equal(new[] { priv, pub }.Order(), Names(inNamespace));
        Assert.True(Starred(inNamespace, pub));
        Assert.False(Starred(inNamespace, priv));
        Assert.True((await alice.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{pub}")).GetProperty("is_starred").GetBoolean());
        Assert.False((await alice.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{priv}")).GetProperty("is_starred").GetBoolean());

        // Alice's star is hers: bob sees none, and his own star of the public repository leaves hers alone.
        Assert.Equal("""{"repositories":[]}""", (await bob.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, "/api/v1/user/starred")).GetRawText());
        Assert.False((await bob.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{pub}")).GetProperty("is_starred").GetBoolean());
        await bob.ExpectAsync(HttpStatusCode.Created, HttpMethod.Post, "/api/v1/user/starred", new { @namespace = ns, repository = "pub" });
        await bob.ExpectAsync(HttpStatusCode.NoContent, HttpMethod.Delete, $"/api/v1/user/starred/{pub}");
        Assert.Equal([pub], Names(await alice.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, "/api/v1/user/starred")));

        // Unstar: 204 with no body, and again (nothing left to remove).
        var (status, _, text) = await alice.SendAsync(HttpMethod.Delete, $"/api/v1/user/starred/{pub}");
        Assert.Equal(HttpStatusCode.NoContent, status);
        Assert.Equal("", text);
        await alice.ExpectAsync(HttpStatusCode.NoContent, HttpMethod.Delete, $"/api/v1/user/starred/{pub}");
        Assert.Empty(Names(await alice.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, "/api/v1/repository?starred=true")));
        Assert.False((await alice.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{pub}")).GetProperty("is_starred").GetBoolean());
    }

    [Fact]
    public async Task Stars_of_repositories_a_caller_may_not_read_are_not_found_and_bad_bodies_are_400()
    {
        var ns = Unique("stars");
        var admin = As(Principal.User("root", isAdmin: true));
        await admin.CreateRepositoryAsync(ns, "secret", "private");
        var bob = As(GuardedHost.User("bob", Unique("elsewhere"), Role.Owner));

        // A private repository bob may not read is as unknown to him as one that does not exist: Quay's 404 object.
        foreach (var name in new[] { "secret", "missing", "Not-A-Name" })
        {
            var body = await bob.ExpectAsync(HttpStatusCode.NotFound, HttpMethod.Post, "/api/v1/user/starred", new { @namespace = ns, repository = name });
            Assert.Equal("not_found", body.GetProperty("error_type").GetString());
            await bob.ExpectAsync(HttpStatusCode.NotFound, HttpMethod.Delete, $"/api/v1/user/starred/{ns}/{name}");
        }
        Assert.Empty(Names(await bob.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, "/api/v1/user/starred")));

        var missing = await bob.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/v1/user/starred", new { repository = "secret" });
        Assert.Equal("'namespace' is a required property", missing.GetProperty("error_message").GetString());
        await bob.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/v1/user/starred", new { @namespace = ns, repository = "a/b" });
        await bob.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/v1/user/starred", "{not json");
        await bob.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/v1/user/starred", new { @namespace = ns, repository = new[] { 1 } });

        // Without credentials there is no user to star for.
        var anonymous = await As(null).ExpectAsync(HttpStatusCode.Unauthorized, HttpMethod.Post, "/api/v1/user/starred", new { @namespace = ns, repository = "secret" });
        Assert.Equal("invalid_token", anonymous.GetProperty("error_type").GetString());
    }

    /// <summary>
    /// Quay lists by repository id, oldest first: <c>/user/starred</c> paginates on <c>Repository.id</c>, and the starred
    /// mode of the repository list (which has no ORDER BY in Quay) answers in the same order here.
    /// </summary>
    [Fact]
    public async Task Starred_lists_are_in_creation_order_whatever_the_names_or_the_order_of_starring()
    {
        var ns = Unique("order");
        var admin = As(Principal.User("root", isAdmin: true));
        string[] created = [await admin.CreateRepositoryAsync(ns, "zeta", "public"), await admin.CreateRepositoryAsync(ns, "alpha", "public"),
            await admin.CreateRepositoryAsync(ns, "mid", "public")];
        var carol = As(GuardedHost.User(Unique("carol"), ns, Role.Guest));
        foreach (var name in new[] { "mid", "zeta", "alpha" })
            await carol.ExpectAsync(HttpStatusCode.Created, HttpMethod.Post, "/api/v1/user/starred", new { @namespace = ns, repository = name });

        Assert.Equal(created, InOrder(await carol.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, "/api/v1/user/starred")));
        Assert.Equal(created, InOrder(await carol.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, "/api/v1/repository?starred=true")));
        Assert.Equal(created, InOrder(await carol.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository?starred=true&namespace={ns}")));
    }

    static string[] InOrder(JsonElement list) =>
        [.. list.GetProperty("repositories").EnumerateArray().Select(r => r.GetProperty("namespace").GetString() + "/" + r.GetProperty("name").GetString())];

    [Fact]
    public async Task A_deleted_repository_takes_its_stars_with_it()
    {
        var ns = Unique("stars");
        var admin = As(Principal.User("root", isAdmin: true));
        var repository = await admin.CreateRepositoryAsync(ns, "gone", "public");
        await admin.ExpectAsync(HttpStatusCode.Created, HttpMethod.Post, "/api/v1/user/starred", new { @namespace = ns, repository = "gone" });
        Assert.Equal([repository], Names(await admin.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, "/api/v1/user/starred")));

        await admin.ExpectAsync(HttpStatusCode.NoContent, HttpMethod.Delete, $"/api/v1/repository/{repository}");
        await admin.CreateRepositoryAsync(ns, "gone", "public");
        Assert.Empty(Names(await admin.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, "/api/v1/user/starred")));
        Assert.False((await admin.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{repository}")).GetProperty("is_starred").GetBoolean());
    }
}
