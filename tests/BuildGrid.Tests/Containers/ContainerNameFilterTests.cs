using BuildGrid.Containers.V1;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Containers;

/// <summary>
/// The name filter takes its text literally (LIKE's <c>%</c>, <c>_</c> and <c>\</c>, FTS5's quotes), folds ASCII case
/// only, and gives the same answer through the trigram index (three characters or more) as through the plain LIKE
/// (one or two); the index follows renames and deletes, cascades included.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class ContainerNameFilterTests(StandaloneFixture fixture) : IDisposable
{
    public void Dispose() => fixture.AssertNoErrorsLogged();

    readonly BuildGrid.Containers.V1.Containers.ContainersClient client = new(fixture.Channel);
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    // Every page of a filtered list, keeping this test's names (other tests share the database).
    async Task<string[]> ProjectsAsync(string prefix, string filter)
    {
        var names = new List<string>();
        var request = new ListProjectsRequest { PageSize = 3, NameContains = filter };
        do
        {
            var page = await client.ListProjectsAsync(request, cancellationToken: Ct);
            names.AddRange(page.Projects.Select(p => p.Name));
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);
        return names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).Select(n => n[prefix.Length..]).ToArray();
    }

    async Task<string[]> BranchesAsync(string filter) =>
        (await client.ListBranchesAsync(new ListBranchesRequest { PageSize = 1000, NameContains = filter }, cancellationToken: Ct)).Branches.Select(b => b.Name).ToArray();

    async Task<string[]> GroupsAsync(string filter) =>
        (await client.ListProjectGroupsAsync(new ListProjectGroupsRequest { PageSize = 1000, NameContains = filter }, cancellationToken: Ct)).ProjectGroups.Select(g => g.Name).ToArray();

    [Fact]
    public async Task Special_characters_filter_literally_through_either_query()
    {
        var prefix = SvacerApi.UniqueName("nf") + "-";
        string[] tails = ["100%", "1000", "a_b", "axb", @"c:\dir", "c:dir", "say \"hi\"", "say hi", "it's", "Straße", "Ärger", "ärger", "x😀y", "x😀z"];
        var projects = new Dictionary<string, Project>();
        foreach (var tail in tails)
            projects[tail] = await client.CreateProjectAsync(new CreateProjectRequest { Name = prefix + tail }, cancellationToken: Ct);

        // filter (after the prefix is stripped from the answers) → the names it must find, in order
        var cases = new (string Filter, string[] Expected)[]
        {
            ("0%", ["100%"]), ("00%", ["100%"]), ("%", ["100%"]), ("100", ["100%", "1000"]),
            ("_b", ["a_b"]), ("a_b", ["a_b"]), ("_", ["a_b"]),
            (@"\d", [@"c:\dir"]), (@":\d", [@"c:\dir"]), (@"\", [@"c:\dir"]), ("c:d", ["c:dir"]),
            ("\"", ["say \"hi\""]), ("\"hi\"", ["say \"hi\""]), ("say \"", ["say \"hi\""]), ("SAY", ["say \"hi\"", "say hi"]),
            ("'s", ["it's"]), ("it'", ["it's"]), ("' OR 1=1 --", []), ("\" OR \"", []),
            ("ß", ["Straße"]), ("aße", ["Straße"]), ("STRAßE", ["Straße"]), ("strasse", []),
            // LIKE folds ASCII only; the trigram index folds more, and the store's LIKE narrows its answer back.
            ("ärg", ["ärger"]), ("ÄRG", ["Ärger"]), ("rGe", ["Ärger", "ärger"]),
            // two code points, three UTF-16 units: the plain LIKE (trigrams would find nothing)
            ("😀y", ["x😀y"]), ("x😀y", ["x😀y"]), ("😀", ["x😀y", "x😀z"]),
        };
        foreach (var (filter, expected) in cases)
        {
            var found = await ProjectsAsync(prefix, filter);
            Assert.True(Enumerable.SequenceEqual(expected, found), $"filter {filter}: {string.Join(", ", found)}");
        }
        Assert.Equal(tails.Order(StringComparer.Ordinal), await ProjectsAsync(prefix, prefix));

        // Renames and deletes reach the index.
        await client.UpdateProjectAsync(new UpdateProjectRequest { Id = projects["1000"].Id, Name = prefix + "2000" }, cancellationToken: Ct);
        Assert.Equal(["100%"], await ProjectsAsync(prefix, "100"));
        Assert.Equal(["2000"], await ProjectsAsync(prefix, "000"));
        await client.DeleteProjectAsync(new DeleteProjectRequest { Id = projects["100%"].Id }, cancellationToken: Ct);
        Assert.Empty(await ProjectsAsync(prefix, "00%"));

        // Branches and groups have their own indexes; deleting a project removes its branches from its index.
        var branch = await client.CreateBranchAsync(new CreateBranchRequest { ProjectId = projects["x😀y"].Id, Name = prefix + "50%_off" }, cancellationToken: Ct);
        await client.CreateBranchAsync(new CreateBranchRequest { ProjectId = projects["x😀z"].Id, Name = prefix + "50x_off" }, cancellationToken: Ct);
        Assert.Equal([branch.Name], await BranchesAsync(prefix + "50%"));
        await client.UpdateBranchAsync(new UpdateBranchRequest { Id = branch.Id, Name = prefix + "60%_off" }, cancellationToken: Ct);
        Assert.Empty(await BranchesAsync(prefix + "50%"));
        Assert.Equal([prefix + "60%_off"], await BranchesAsync(prefix + "60%"));
        await client.DeleteProjectAsync(new DeleteProjectRequest { Id = projects["x😀y"].Id }, cancellationToken: Ct);
        Assert.Empty(await BranchesAsync(prefix + "60%"));
        Assert.Equal([prefix + "50x_off"], await BranchesAsync(prefix + "50x"));

        var group = await client.CreateProjectGroupAsync(new CreateProjectGroupRequest { Name = prefix + "Team \"Ω\"" }, cancellationToken: Ct);
        Assert.Equal([group.Name], await GroupsAsync(prefix + "team \"Ω"));
        Assert.Empty(await GroupsAsync(prefix + "team \"ω"));
        await client.UpdateProjectGroupAsync(new UpdateProjectGroupRequest { Id = group.Id, Name = prefix + "crew" }, cancellationToken: Ct);
        Assert.Empty(await GroupsAsync(prefix + "team"));
        await client.DeleteProjectGroupAsync(new DeleteProjectGroupRequest { Id = group.Id }, cancellationToken: Ct);
        Assert.Empty(await GroupsAsync(prefix + "crew"));
    }
}
