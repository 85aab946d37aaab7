using System.Text.RegularExpressions;
using BuildGrid.Containers.Domain;
using BuildGrid.Containers.Storage;
using BuildGrid.Core.Storage;
using BuildGrid.Tests.Infrastructure;
using Dapper;

namespace BuildGrid.Tests.Containers;

/// <summary>
/// The list queries the store really runs, explained by SQLite on the host's own database: every table is reached
/// through an index (no bare "SCAN table"), pages come out in index order (no sort), and what a call narrows to
/// (a keyset position, a parent) is a SEARCH. The two membership lists sort one group's (one project's) rows, and a
/// name filter sorts the names its trigram index found; those are the only sorts allowed. A name filter of one or two
/// characters cannot use trigrams: it keeps walking the name index in page order, filtering as it goes.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed partial class ContainerQueryPlanTests(StandaloneFixture fixture)
{
    static readonly string Id = Guid.NewGuid().ToString();
    static readonly Page First = new(100, null, null);
    static readonly Page After = new(100, "m", Id);

    [GeneratedRegex(@"^SCAN \w+$")]
    private static partial Regex BareScan();

    async Task<string[]> PlanAsync(string sql, Page page, string nameContains, object filter)
    {
        var database = fixture.Services.GetRequiredKeyedService<ServiceDatabase>("containers");
        await using var connection = await database.OpenAsync(TestContext.Current.CancellationToken);
        var rows = await connection.QueryAsync<(long Id, long Parent, long NotUsed, string Detail)>(
            $"EXPLAIN QUERY PLAN {sql} {database.Dialect.Page}", ContainerStore.PageParameters(page, nameContains, filter));
        return rows.Select(r => r.Detail).ToArray();
    }

    public static TheoryData<string, string, bool, string> Lists => new()
    {
        // list kind, variant, sorted (membership), a detail the plan must contain
        { "projects", "first page", false, "USING INDEX ux_projects_name" },
        { "projects", "next page", false, "SEARCH p USING INDEX ux_projects_name (name>?)" },
        { "projects", "name filter", true, "SCAN n VIRTUAL TABLE INDEX" },
        { "projects", "name filter, next page", true, "SEARCH p USING PRIMARY KEY (id=?)" },
        { "projects", "short name filter", false, "USING INDEX ux_projects_name" },
        { "projects", "of a group", true, "SEARCH m USING PRIMARY KEY (project_group_id=?)" },
        { "projects", "of a group, next page", true, "SEARCH p USING PRIMARY KEY (id=?)" },
        { "branches", "first page", false, "USING INDEX ix_branches_name" },
        { "branches", "next page", false, "SEARCH b USING" },
        { "branches", "name filter", true, "SCAN n VIRTUAL TABLE INDEX" },
        { "branches", "short name filter", false, "USING INDEX ix_branches_name" },
        { "branches", "of a project", false, "SEARCH b USING INDEX ux_branches_project_name (project_id=?)" },
        { "branches", "of a project, next page", false, "SEARCH b USING INDEX ux_branches_project_name (project_id=? AND name>?)" },
        { "groups", "first page", false, "USING INDEX ux_project_groups_name" },
        { "groups", "name filter", true, "SCAN n VIRTUAL TABLE INDEX" },
        { "groups", "short name filter", false, "USING INDEX ux_project_groups_name" },
        { "groups", "of a project", true, "SEARCH m USING COVERING INDEX ix_project_group_members_project (project_id=?)" },
        { "snapshots", "of a branch", false, "SEARCH s USING INDEX ix_snapshots_branch_name (branch_id=?)" },
        { "snapshots", "of a branch, next page", false, "SEARCH s USING INDEX ix_snapshots_branch_name (branch_id=? AND name>?)" },
    };

    [Theory]
    [MemberData(nameof(Lists))]
    public async Task List_queries_use_indexes(string list, string variant, bool sorted, string expected)
    {
        var store = fixture.Services.GetRequiredService<ContainerStore>();
        var snapshots = fixture.Services.GetRequiredService<SnapshotStore>();
        var page = variant.Contains("next page", StringComparison.Ordinal) ? After : First;
        var name = variant.StartsWith("short", StringComparison.Ordinal) ? "ba" : variant.StartsWith("name filter", StringComparison.Ordinal) ? "b\"%_s" : "";
        var scoped = variant.StartsWith("of a", StringComparison.Ordinal) ? Id : "";
        var (sql, filter) = list switch
        {
            "projects" => (store.ProjectsQuery(page, name, scoped), (object)new { groupId = scoped }),
            "branches" => (store.BranchesQuery(page, name, scoped), new { projectId = scoped }),
            "groups" => (store.GroupsQuery(page, name, scoped), new { projectId = scoped }),
            _ => (snapshots.Query(page), new { branchId = Id }),
        };

        var plan = await PlanAsync(sql, page, name, filter);
        var shown = string.Join(" | ", plan);
        Assert.DoesNotContain(plan, d => BareScan().IsMatch(d));
        Assert.Contains(plan, d => d.Contains(expected, StringComparison.Ordinal));
        if (!sorted)
            Assert.False(plan.Any(d => d.Contains("TEMP B-TREE", StringComparison.Ordinal)), $"{list} {variant} sorts: {shown}");
        if (variant.StartsWith("name filter", StringComparison.Ordinal))
        {
            // The trigram index leads; the table is reached by the ids it found, never walked (not even its name index).
            Assert.StartsWith("SCAN n VIRTUAL TABLE INDEX", plan[0], StringComparison.Ordinal);
            Assert.DoesNotContain(plan, d => d.StartsWith("SCAN ", StringComparison.Ordinal) && !d.Contains("VIRTUAL TABLE", StringComparison.Ordinal));
            Assert.Contains(plan, d => d.StartsWith("SEARCH d USING INTEGER PRIMARY KEY (rowid=?)", StringComparison.Ordinal));
            Assert.Contains(plan, d => d.StartsWith($"SEARCH {list[0]} USING PRIMARY KEY (id=?)", StringComparison.Ordinal));
            Assert.DoesNotContain(plan, d => d.Contains("_name", StringComparison.Ordinal) && !d.StartsWith("SCAN n", StringComparison.Ordinal));
        }
    }
}
