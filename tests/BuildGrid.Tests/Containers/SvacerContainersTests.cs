using System.Net;
using System.Text.Json;
using BuildGrid.Containers.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Core;

namespace BuildGrid.Tests.Containers;

/// <summary>Seed 001 through the REST gateway of the shared standalone host: every row of the document's tables, and bad input.</summary>
[Collection(StandaloneCollection.Name)]
public sealed class SvacerContainersTests(StandaloneFixture fixture) : IDisposable
{
    public void Dispose() => fixture.AssertNoErrorsLogged();

    readonly SvacerApi api = new(fixture.Rest);
    readonly BuildGrid.Containers.V1.Containers.ContainersClient grpc = new(fixture.Channel);

    static string Name(JsonElement item) => item.GetProperty("name").GetString()!;
    static string Id(JsonElement item) => item.GetProperty("id").GetString()!;
    static string Type(JsonElement item) => item.GetProperty("type").GetString()!;

    static void AssertError(SvacerApi.Answer answer, HttpStatusCode status, string reason, string? contains = null)
    {
        Assert.True(answer.Status == status, $"expected {(int)status}, got {(int)answer.Status}: {answer.Text}");
        Assert.Equal(["error", "reason"], SvacerApi.Fields(answer.Root));
        Assert.Equal(reason, answer.Reason);
        if (contains is not null)
            Assert.Contains(contains, answer.Error);
    }

    /// <summary>A project with two branches, in one group; names share a unique prefix.</summary>
    async Task<(string Prefix, string Project, string Group, string Main, string Dev)> TreeAsync()
    {
        var prefix = SvacerApi.UniqueName("t");
        var project = await api.AddIdAsync("project", $"{prefix}-proj");
        var group = await api.AddIdAsync("project-group", $"{prefix}-group");
        var main = await api.AddIdAsync("branch", $"{prefix}-main", project);
        var dev = await api.AddIdAsync("branch", $"{prefix}-dev", project);
        Assert.Equal(HttpStatusCode.OK, (await api.GroupsAsync(new { action = "add-project-to-group", project_name_or_id = project, project_group_name_or_id = group })).Status);
        return (prefix, project, group, main, dev);
    }

    // ---- list: the rows of the table ----

    [Fact]
    public async Task List_without_id_and_type_is_project_groups_then_projects_ordered_by_name_without_branches()
    {
        var (prefix, project, group, _, _) = await TreeAsync();
        var second = await api.AddIdAsync("project-group", $"{prefix}-a-group");

        var filtered = await api.ListAsync(new { action = "list", name = prefix });
        Assert.Equal([second, group, project], filtered.Select(Id));
        Assert.Equal(["project-group", "project-group", "project"], filtered.Select(Type));

        var all = await api.ListAsync(new { action = "list" });
        Assert.DoesNotContain(all, i => Type(i) is "branch" or "snapshot");
        Assert.Contains(all, i => Id(i) == project);
        var kinds = all.Select(Type).ToList();
        Assert.True(kinds.LastIndexOf("project-group") < kinds.IndexOf("project"), "groups come before projects");
        foreach (var kind in new[] { "project-group", "project" })
        {
            var names = all.Where(i => Type(i) == kind).Select(i => (Name(i), Id(i))).ToList();
            Assert.Equal(names.OrderBy(n => n.Item1, StringComparer.Ordinal).ThenBy(n => n.Item2, StringComparer.Ordinal), names);
        }
        // Items show exactly the documented fields.
        Assert.All(all, i => Assert.Equal(["id", "name", "type"], SvacerApi.Fields(i)));
    }

    [Theory]
    [InlineData("project")]
    [InlineData("branch")]
    [InlineData("project-group")]
    public async Task List_with_a_type_returns_only_that_kind(string type)
    {
        var (prefix, project, _, _, _) = await TreeAsync();
        var items = await api.ListAsync(new { action = "list", type, name = prefix });
        Assert.NotEmpty(items);
        Assert.All(items, i => Assert.Equal(type, Type(i)));
        if (type == "branch")
        {
            Assert.Equal([$"{prefix}-dev", $"{prefix}-main"], items.Select(Name));
            Assert.All(items, i => Assert.Equal(["id", "name", "type", "parent"], SvacerApi.Fields(i)));
            Assert.All(items, i => Assert.Equal(project, i.GetProperty("parent").GetString()));
        }
        else
        {
            Assert.All(items, i => Assert.Equal(["id", "name", "type"], SvacerApi.Fields(i)));
        }
    }

    [Fact]
    public async Task List_by_name_is_a_case_insensitive_substring_with_literal_wildcards()
    {
        var prefix = SvacerApi.UniqueName("Sub");
        await api.AddAsync("project", $"{prefix}-bash");
        await api.AddAsync("project", $"{prefix}-b%sh");
        await api.AddAsync("project", $"{prefix}-b_sh");
        Assert.Equal([$"{prefix}-bash"], (await api.ListAsync(new { action = "list", name = $"{prefix}-BAS" })).Select(Name));
        Assert.Equal([$"{prefix}-b%sh"], (await api.ListAsync(new { action = "list", name = $"{prefix}-b%" })).Select(Name));
        Assert.Equal([$"{prefix}-b_sh"], (await api.ListAsync(new { action = "list", name = $"{prefix}-b_" })).Select(Name));
        Assert.Empty(await api.ListAsync(new { action = "list", name = prefix + "-nothing" }));
    }

    [Fact]
    public async Task List_by_project_id_is_its_groups_then_its_branches_and_ignores_the_name()
    {
        var (_, project, group, main, dev) = await TreeAsync();
        var items = await api.ListAsync(new { action = "list", id = project, name = "no-such-name", parent = "ignored", review_with_comment = true });
        Assert.Equal([group, dev, main], items.Select(Id));
        Assert.Equal(["id", "name", "type"], SvacerApi.Fields(items[0]));
        Assert.All(items[1..], i => Assert.Equal(project, i.GetProperty("parent").GetString()));

        Assert.Equal([dev, main], (await api.ListAsync(new { action = "list", id = project, type = "branch" })).Select(Id));
        Assert.Equal([group], (await api.ListAsync(new { action = "list", id = project, type = "project-group" })).Select(Id));
        Assert.Empty(await api.ListAsync(new { action = "list", id = project, type = "project" }));
        // Ids are accepted in any case.
        Assert.Equal(3, (await api.ListAsync(new { action = "list", id = project.ToUpperInvariant() })).Length);
    }

    [Fact]
    public async Task List_by_group_id_is_its_projects()
    {
        var (prefix, project, group, _, _) = await TreeAsync();
        var other = await api.AddIdAsync("project", $"{prefix}-another");
        Assert.Equal(HttpStatusCode.OK, (await api.GroupsAsync(new { action = "add-project-to-group", project_name_or_id = $"{prefix}-another", project_group_name_or_id = group })).Status);
        var items = await api.ListAsync(new { action = "list", id = group, name = "ignored" });
        Assert.Equal([other, project], items.Select(Id));
        Assert.All(items, i => Assert.Equal("project", Type(i)));
        Assert.Empty(await api.ListAsync(new { action = "list", id = group, type = "branch" }));
        Assert.Empty(await api.ListAsync(new { action = "list", id = await api.AddIdAsync("project-group", $"{prefix}-empty") }));
    }

    [Fact]
    public async Task List_by_branch_id_is_its_snapshots()
    {
        var (_, _, _, main, dev) = await TreeAsync();
        var second = await grpc.CreateSnapshotAsync(new CreateSnapshotRequest { BranchId = main, Name = "r2", Commit = "abc123" }, cancellationToken: TestContext.Current.CancellationToken);
        var first = await grpc.CreateSnapshotAsync(new CreateSnapshotRequest { BranchId = main, Name = "r1" }, cancellationToken: TestContext.Current.CancellationToken);
        var items = await api.ListAsync(new { action = "list", id = main });
        Assert.Equal([first.Id, second.Id], items.Select(Id));
        Assert.All(items, i => Assert.Equal(["id", "name", "type", "parent"], SvacerApi.Fields(i)));
        Assert.All(items, i => Assert.Equal("snapshot", Type(i)));
        Assert.All(items, i => Assert.Equal(main, i.GetProperty("parent").GetString()));
        Assert.Empty(await api.ListAsync(new { action = "list", id = dev }));
    }

    [Fact]
    public async Task List_by_an_unknown_or_malformed_id_is_404_or_400()
    {
        AssertError(await api.ContainersAsync(new { action = "list", id = Guid.NewGuid().ToString() }), HttpStatusCode.NotFound, "CONTAINER_NOT_FOUND", "not found");
        AssertError(await api.ContainersAsync(new { action = "list", id = "bash" }), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "id must be a container id (a UUID), not 'bash'");
    }

    // ---- add ----

    [Fact]
    public async Task Add_creates_each_kind_with_a_uuid_and_answers_the_container()
    {
        var prefix = SvacerApi.UniqueName("add");
        var project = await api.AddAsync("project", $"{prefix}-p", reviewWithComment: true);
        Assert.Equal(["action", "id", "name", "type", "review_with_comment"], SvacerApi.Fields(project));
        Assert.Equal("add", project.GetProperty("action").GetString());
        Assert.True(Guid.TryParseExact(Id(project), "D", out _));
        Assert.True(project.GetProperty("review_with_comment").GetBoolean());
        var stored = await grpc.GetProjectAsync(new GetProjectRequest { Id = Id(project) }, cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(stored.ReviewWithComment);

        var group = await api.AddAsync("project-group", $"{prefix}-g", reviewWithComment: true);
        Assert.Equal(["action", "id", "name", "type"], SvacerApi.Fields(group));

        // parent by name and by id; the answer names the project by id.
        var byName = await api.AddAsync("branch", $"{prefix}-b1", $"{prefix}-p", reviewWithComment: true);
        Assert.Equal(["action", "id", "name", "type", "parent"], SvacerApi.Fields(byName));
        Assert.Equal(Id(project), byName.GetProperty("parent").GetString());
        var byId = await api.AddAsync("branch", $"{prefix}-b2", Id(project));
        Assert.Equal(Id(project), byId.GetProperty("parent").GetString());

        // "id" is not used by add.
        var ignored = await api.ContainersAsync(new { action = "add", type = "project", name = $"{prefix}-q", id = Id(project) });
        Assert.Equal(HttpStatusCode.OK, ignored.Status);
        Assert.NotEqual(Id(project), Id(ignored.Containers[0]));
        // review_with_comment defaults to false.
        Assert.False(ignored.Containers[0].GetProperty("review_with_comment").GetBoolean());
    }

    [Fact]
    public async Task Add_names_are_unique_per_kind_and_branch_names_per_project()
    {
        var prefix = SvacerApi.UniqueName("uniq");
        var p1 = await api.AddIdAsync("project", prefix);
        AssertError(await api.ContainersAsync(new { action = "add", type = "project", name = prefix }), HttpStatusCode.Conflict, "CONTAINER_ALREADY_EXISTS", $"a project named '{prefix}' already exists");
        await api.AddAsync("project-group", prefix);
        AssertError(await api.ContainersAsync(new { action = "add", type = "project-group", name = prefix }), HttpStatusCode.Conflict, "CONTAINER_ALREADY_EXISTS");
        var p2 = await api.AddIdAsync("project", prefix + "-2");
        await api.AddAsync("branch", "main", p1);
        await api.AddAsync("branch", "main", p2);
        AssertError(await api.ContainersAsync(new { action = "add", type = "branch", name = "main", parent = p1 }), HttpStatusCode.Conflict, "CONTAINER_ALREADY_EXISTS", "branch named 'main'");
        // Names are exact: another case is another name.
        await api.AddAsync("project", prefix.ToUpperInvariant());
        Assert.Single(await api.ListAsync(new { action = "list", id = p1, type = "branch" }));
    }

    [Fact]
    public async Task Add_without_required_fields_is_400_naming_them()
    {
        AssertError(await api.ContainersAsync(new { action = "add", name = "x" }), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "type is required for add; allowed values: project, branch, project-group");
        AssertError(await api.ContainersAsync(new { action = "add", type = "project" }), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "name is required");
        AssertError(await api.ContainersAsync(new { action = "add", type = "branch", name = "b" }), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "parent is required for a branch");
        AssertError(await api.ContainersAsync(new { action = "add", type = "branch", name = "b", parent = SvacerApi.UniqueName("nobody") }), HttpStatusCode.NotFound, "CONTAINER_NOT_FOUND", "project '");
        AssertError(await api.ContainersAsync(new { action = "add", type = "branch", name = "b", parent = Guid.NewGuid().ToString() }), HttpStatusCode.NotFound, "CONTAINER_NOT_FOUND");
        AssertError(await api.ContainersAsync(new { action = "add", type = "repository", name = "x" }), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "unknown type 'repository'; allowed values: project, branch, project-group");
    }

    [Theory]
    [InlineData("it's \"quoted\"")]
    [InlineData("100% _done_ \\ back")]
    [InlineData("'; DROP TABLE projects; --")]
    [InlineData("проект/ветка <b>&amp;</b>")]
    [InlineData("emoji 🚀 name")]
    public async Task Special_characters_in_names_are_stored_and_answered_as_given(string suffix)
    {
        var name = SvacerApi.UniqueName("sc") + " " + suffix;
        var id = await api.AddIdAsync("project", name);
        var found = Assert.Single(await api.ListAsync(new { action = "list", name }));
        Assert.Equal(name, Name(found));
        Assert.Equal(id, Id(found));
        var branch = await api.AddAsync("branch", suffix, name);
        Assert.Equal(suffix, Name(branch));
    }

    [Theory]
    [InlineData("tab\tname", "U+0009")]
    [InlineData("line\nbreak", "U+000A")]
    [InlineData("nul\u0000", "U+0000")]
    [InlineData("rtl\u202Eoverride", "U+202E")]
    public async Task Control_and_invisible_characters_are_400_naming_the_character(string name, string shown)
    {
        AssertError(await api.ContainersAsync(new { action = "add", type = "project", name }), HttpStatusCode.BadRequest, "INVALID_NAME", shown);
    }

    [Fact]
    public async Task Names_up_to_255_characters_are_accepted_and_longer_ones_are_400()
    {
        var longest = SvacerApi.UniqueName("long");
        longest += new string('x', 255 - longest.Length);
        await api.AddAsync("project", longest);
        AssertError(await api.ContainersAsync(new { action = "add", type = "project", name = longest + "y" }), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "name is longer than 255 characters");
        AssertError(await api.ContainersAsync(new { action = "add", type = "project", name = " padded" }), HttpStatusCode.BadRequest, "INVALID_NAME", "white space");
        AssertError(await api.ContainersAsync(new { action = "list", name = new string('n', 300) }), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "longer than 255");
    }

    // ---- update ----

    [Fact]
    public async Task Update_renames_each_kind_and_sets_review_with_comment_on_a_project()
    {
        var (prefix, project, group, main, _) = await TreeAsync();
        var renamed = await api.ContainersAsync(new { action = "update", id = project, name = $"{prefix}-renamed", review_with_comment = true, parent = "ignored" });
        Assert.Equal(HttpStatusCode.OK, renamed.Status);
        var item = Assert.Single(renamed.Containers);
        Assert.Equal(["action", "id", "name", "type", "review_with_comment"], SvacerApi.Fields(item));
        Assert.Equal("update", item.GetProperty("action").GetString());
        Assert.Equal($"{prefix}-renamed", Name(item));
        Assert.True(item.GetProperty("review_with_comment").GetBoolean());

        // Without review_with_comment the setting is kept.
        var again = await api.ContainersAsync(new { action = "update", id = project, type = "project", name = $"{prefix}-again" });
        Assert.True(again.Containers[0].GetProperty("review_with_comment").GetBoolean());

        var branch = await api.ContainersAsync(new { action = "update", id = main, type = "branch", name = $"{prefix}-trunk", parent = SvacerApi.UniqueName("elsewhere") });
        Assert.Equal(HttpStatusCode.OK, branch.Status);
        Assert.Equal(project, branch.Containers[0].GetProperty("parent").GetString());
        Assert.Contains(await api.ListAsync(new { action = "list", id = project, type = "branch" }), b => Name(b) == $"{prefix}-trunk");

        var renamedGroup = await api.ContainersAsync(new { action = "update", id = group, name = $"{prefix}-team" });
        Assert.Equal($"{prefix}-team", Name(renamedGroup.Containers[0]));
        var get = await api.GroupsAsync(new { action = "get", project_group_name_or_id = $"{prefix}-team" });
        Assert.Equal(group, get.Root.GetProperty("project_group_id").GetString());
    }

    [Fact]
    public async Task Update_errors_name_the_problem()
    {
        var (prefix, project, _, main, dev) = await TreeAsync();
        AssertError(await api.ContainersAsync(new { action = "update", name = "x" }), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "id is required");
        AssertError(await api.ContainersAsync(new { action = "update", id = Guid.NewGuid().ToString(), name = "x" }), HttpStatusCode.NotFound, "CONTAINER_NOT_FOUND");
        AssertError(await api.ContainersAsync(new { action = "update", id = project }), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "name is required");
        AssertError(await api.ContainersAsync(new { action = "update", id = project, type = "branch", name = "x" }), HttpStatusCode.BadRequest,
            "CONTAINER_TYPE_MISMATCH", $"container '{project}' is a project, not a branch");
        AssertError(await api.ContainersAsync(new { action = "update", id = dev, name = $"{prefix}-main" }), HttpStatusCode.Conflict, "CONTAINER_ALREADY_EXISTS");
        AssertError(await api.ContainersAsync(new { action = "update", id = main, name = "bad\u0007" }), HttpStatusCode.BadRequest, "INVALID_NAME");
        // Nothing changed.
        Assert.Equal([$"{prefix}-dev", $"{prefix}-main"], (await api.ListAsync(new { action = "list", id = project, type = "branch" })).Select(Name));
    }

    // ---- remove ----

    [Fact]
    public async Task Removing_a_project_removes_its_branches_snapshots_and_memberships()
    {
        var (_, project, group, main, _) = await TreeAsync();
        var snapshot = await grpc.CreateSnapshotAsync(new CreateSnapshotRequest { BranchId = main, Name = "s" }, cancellationToken: TestContext.Current.CancellationToken);

        AssertError(await api.ContainersAsync(new { action = "remove", id = project, type = "project-group" }), HttpStatusCode.BadRequest, "CONTAINER_TYPE_MISMATCH");
        var removed = await api.ContainersAsync(new { action = "remove", id = project, type = "project", name = "not used" });
        Assert.Equal(HttpStatusCode.OK, removed.Status);
        Assert.Equal("remove", removed.Containers[0].GetProperty("action").GetString());
        Assert.Equal(project, Id(removed.Containers[0]));

        AssertError(await api.ContainersAsync(new { action = "list", id = project }), HttpStatusCode.NotFound, "CONTAINER_NOT_FOUND");
        AssertError(await api.ContainersAsync(new { action = "list", id = main }), HttpStatusCode.NotFound, "CONTAINER_NOT_FOUND");
        var gone = await Assert.ThrowsAsync<RpcException>(() => grpc.GetSnapshotAsync(new GetSnapshotRequest { Id = snapshot.Id }, cancellationToken: TestContext.Current.CancellationToken).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);
        Assert.Empty(await api.ListAsync(new { action = "list", id = group }));
        AssertError(await api.ContainersAsync(new { action = "remove", id = project }), HttpStatusCode.NotFound, "CONTAINER_NOT_FOUND");
    }

    [Fact]
    public async Task Removing_a_group_keeps_its_projects_and_removing_a_branch_keeps_its_project()
    {
        var (_, project, group, main, dev) = await TreeAsync();
        var removed = await api.ContainersAsync(new { action = "remove", id = group });
        Assert.Equal("project-group", Type(removed.Containers[0]));
        Assert.Equal([dev, main], (await api.ListAsync(new { action = "list", id = project })).Select(Id));

        var branch = await api.ContainersAsync(new { action = "remove", id = main, type = "branch" });
        Assert.Equal(project, branch.Containers[0].GetProperty("parent").GetString());
        Assert.Equal([dev], (await api.ListAsync(new { action = "list", id = project })).Select(Id));
        AssertError(await api.ContainersAsync(new { action = "remove" }), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "id is required");
    }

    // ---- project-groups ----

    [Fact]
    public async Task Project_group_membership_is_answered_clearly_and_never_duplicated()
    {
        var prefix = SvacerApi.UniqueName("pg");
        var group = await api.AddIdAsync("project-group", $"{prefix}-g");
        var project = await api.AddIdAsync("project", $"{prefix}-p");

        var added = await api.GroupsAsync(new { action = "add-project-to-group", project_name_or_id = project, project_group_name_or_id = $"{prefix}-g" });
        Assert.Equal(["action", "project_group_id", "project_group_name", "project_id", "project_name"], SvacerApi.Fields(added.Root));
        Assert.Equal($"{prefix}-p", added.Root.GetProperty("project_name").GetString());
        AssertError(await api.GroupsAsync(new { action = "add-project-to-group", project_name_or_id = $"{prefix}-p", project_group_name_or_id = group }),
            HttpStatusCode.Conflict, "PROJECT_ALREADY_IN_GROUP", $"project '{prefix}-p' is already in project group '{prefix}-g'");
        Assert.Single(await api.ListAsync(new { action = "list", id = group }));

        Assert.Equal(HttpStatusCode.OK, (await api.GroupsAsync(new { action = "remove-project-from-group", project_name_or_id = project, project_group_name_or_id = group })).Status);
        AssertError(await api.GroupsAsync(new { action = "remove-project-from-group", project_name_or_id = project, project_group_name_or_id = group }),
            HttpStatusCode.NotFound, "PROJECT_NOT_IN_GROUP", "is not in project group");
        Assert.Empty(await api.ListAsync(new { action = "list", id = group }));
    }

    [Fact]
    public async Task Project_group_errors_name_the_problem()
    {
        var group = await api.AddIdAsync("project-group", SvacerApi.UniqueName("pge"));
        AssertError(await api.GroupsAsync(new { action = "get", project_group_name_or_id = SvacerApi.UniqueName("none") }), HttpStatusCode.NotFound, "CONTAINER_NOT_FOUND", "project group '");
        AssertError(await api.GroupsAsync(new { action = "get", project_group_name_or_id = Guid.NewGuid().ToString() }), HttpStatusCode.NotFound, "CONTAINER_NOT_FOUND");
        // "get" does not use project_name_or_id, even an unknown one.
        var get = await api.GroupsAsync(new { action = "get", project_group_name_or_id = group, project_name_or_id = SvacerApi.UniqueName("ignored") });
        Assert.Equal(["action", "project_group_id", "project_group_name"], SvacerApi.Fields(get.Root));
        AssertError(await api.GroupsAsync(new { action = "get" }), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "project_group_name_or_id is required");
        AssertError(await api.GroupsAsync(new { action = "add-project-to-group", project_group_name_or_id = group }), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "project_name_or_id is required");
        AssertError(await api.GroupsAsync(new { action = "add-project-to-group", project_group_name_or_id = group, project_name_or_id = SvacerApi.UniqueName("none") }),
            HttpStatusCode.NotFound, "CONTAINER_NOT_FOUND", "project '");
        AssertError(await api.GroupsAsync(new { action = "delete", project_group_name_or_id = group }), HttpStatusCode.BadRequest, "INVALID_ARGUMENT",
            "unknown action 'delete'; allowed values: get, add-project-to-group, remove-project-from-group");
        AssertError(await api.GroupsAsync(new { project_group_name_or_id = group }), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "action is required");
    }

    // ---- snapshots ----

    [Fact]
    public async Task Snapshot_update_renames_it()
    {
        var (_, _, _, main, _) = await TreeAsync();
        var snapshot = await grpc.CreateSnapshotAsync(new CreateSnapshotRequest { BranchId = main, Name = "nightly" }, cancellationToken: TestContext.Current.CancellationToken);
        var other = await grpc.CreateSnapshotAsync(new CreateSnapshotRequest { BranchId = main, Name = "other" }, cancellationToken: TestContext.Current.CancellationToken);

        // The body cannot point the rename at another snapshot: the path decides.
        var renamed = await api.SendAsync(HttpMethod.Put, $"/api/public/snapshots/{snapshot.Id}/update", $$"""{"name": "release 1.0", "snapshot_id": "{{other.Id}}"}""");
        Assert.Equal(HttpStatusCode.OK, renamed.Status);
        Assert.Equal("release 1.0", renamed.Root.GetProperty("name").GetString());
        Assert.Equal(snapshot.Id, renamed.Root.GetProperty("id").GetString());
        Assert.Equal(main, renamed.Root.GetProperty("parent").GetString());
        Assert.Equal(["other", "release 1.0"], (await api.ListAsync(new { action = "list", id = main })).Select(Name));

        AssertError(await api.SendAsync(HttpMethod.Put, $"/api/public/snapshots/{Guid.NewGuid()}/update", """{"name": "x"}"""), HttpStatusCode.NotFound, "SNAPSHOT_NOT_FOUND");
        AssertError(await api.SendAsync(HttpMethod.Put, "/api/public/snapshots/nope/update", """{"name": "x"}"""), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "snapshot_id must be");
        AssertError(await api.SendAsync(HttpMethod.Put, $"/api/public/snapshots/{snapshot.Id}/update", "{}"), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "name is required");
        AssertError(await api.SendAsync(HttpMethod.Put, $"/api/public/snapshots/{snapshot.Id}/update", """{"name": "a\u0001"}"""), HttpStatusCode.BadRequest, "INVALID_NAME");
        AssertError(await api.SendAsync(HttpMethod.Post, $"/api/public/snapshots/{snapshot.Id}/update", """{"name": "x"}"""), HttpStatusCode.MethodNotAllowed, "METHOD_NOT_ALLOWED");
    }

    // ---- bodies, actions, routes ----

    [Theory]
    [InlineData("{\"action\": ", "application/x-www-form-urlencoded", "neither JSON nor form data")]
    [InlineData("[\"list\"]", "application/json", "must be a JSON object")]
    [InlineData("\"list\"", "application/json", "must be a JSON object")]
    [InlineData("{\"action\": [\"list\"]}", "application/json", "action must be a string")]
    [InlineData("{\"action\": {\"a\": 1}}", "application/x-www-form-urlencoded", "action must be a string")]
    [InlineData("{\"action\": \"add\", \"type\": \"project\", \"name\": \"x\", \"review_with_comment\": \"maybe\"}", "application/json", "review_with_comment must be true or false")]
    [InlineData("{\"action\": \"add\", \"type\": \"project\", \"name\": {\"x\": 1}}", "application/json", "name must be a string")]
    [InlineData("", "application/x-www-form-urlencoded", "action is required; allowed values: list, add, update, remove")]
    [InlineData("{}", "application/json", "action is required")]
    [InlineData("{\"action\": \"delete\"}", "application/json", "unknown action 'delete'; allowed values: list, add, update, remove")]
    [InlineData("<xml/>", "text/xml", "neither JSON nor form data")]
    public async Task Bodies_that_are_not_the_expected_json_are_400_naming_the_problem(string body, string contentType, string message)
    {
        AssertError(await api.SendAsync(HttpMethod.Post, SvacerApi.ContainersPath, body, contentType), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", message);
    }

    [Fact]
    public async Task Invalid_utf8_is_400()
    {
        using var content = new ByteArrayContent([0x7b, 0xff, 0xfe, 0x7d]);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var response = await fixture.Rest.PostAsync(SvacerApi.ContainersPath, content, TestContext.Current.CancellationToken);
        var answer = new SvacerApi.Answer(response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement, "");
        AssertError(answer, HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "UTF-8");
    }

    [Fact]
    public async Task Json_content_type_form_fields_and_case_of_action_and_type_are_accepted()
    {
        var name = SvacerApi.UniqueName("ct");
        var json = await api.SendAsync(HttpMethod.Post, SvacerApi.ContainersPath, $$"""{"action":"add","type":"project-group","name":"{{name}}"}""", "application/json");
        Assert.Equal(HttpStatusCode.OK, json.Status);
        var form = await api.SendAsync(HttpMethod.Post, SvacerApi.ContainersPath, $"action=list&type=project-group&name={Uri.EscapeDataString(name)}");
        Assert.Equal([name], form.Containers.Select(Name));
        var upper = await api.ContainersAsync(new { action = " LIST ", type = "Project-Group", name });
        Assert.Equal([name], upper.Containers.Select(Name));
    }

    [Fact]
    public async Task Unknown_routes_and_methods_answer_the_error_shape()
    {
        AssertError(await api.SendAsync(HttpMethod.Post, "/api/public/admin/server/nothing", "{}"), HttpStatusCode.NotFound, "NOT_FOUND", "no such endpoint");
        AssertError(await api.SendAsync(HttpMethod.Get, SvacerApi.ContainersPath, null), HttpStatusCode.MethodNotAllowed, "METHOD_NOT_ALLOWED");
        AssertError(await api.SendAsync(HttpMethod.Delete, SvacerApi.GroupsPath, null), HttpStatusCode.MethodNotAllowed, "METHOD_NOT_ALLOWED");
        Assert.DoesNotContain(fixture.Errors.Entries, e => e.Contains("Svacer", StringComparison.Ordinal));
    }
}
