using System.Net;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Containers;

/// <summary>Conflicting writes at the same time end in one consistent state, and each caller gets a clear answer.</summary>
[Collection(StandaloneCollection.Name)]
public sealed class ContainersConcurrencyTests(StandaloneFixture fixture) : IDisposable
{
    public void Dispose() => fixture.AssertNoErrorsLogged();

    readonly SvacerApi api = new(fixture.Rest);

    [Theory]
    [InlineData("project")]
    [InlineData("project-group")]
    public async Task Concurrent_adds_of_one_name_have_exactly_one_winner(string type)
    {
        var name = SvacerApi.UniqueName("race");
        var answers = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => api.ContainersAsync(new { action = "add", type, name })));
        var winner = Assert.Single(answers, a => a.Status == HttpStatusCode.OK);
        Assert.All(answers.Where(a => a != winner), a =>
        {
            Assert.Equal(HttpStatusCode.Conflict, a.Status);
            Assert.Equal("CONTAINER_ALREADY_EXISTS", a.Reason);
        });
        var listed = Assert.Single(await api.ListAsync(new { action = "list", type, name }));
        Assert.Equal(winner.Containers[0].GetProperty("id").GetString(), listed.GetProperty("id").GetString());
    }

    [Fact]
    public async Task Concurrent_adds_of_one_branch_name_to_a_project_have_exactly_one_winner()
    {
        var project = await api.AddIdAsync("project", SvacerApi.UniqueName("brrace"));
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => api.ContainersAsync(new { action = "add", type = "branch", name = "main", parent = project })));
        Assert.Single(answers, a => a.Status == HttpStatusCode.OK);
        Assert.Equal(7, answers.Count(a => a.Status == HttpStatusCode.Conflict));
        Assert.Single(await api.ListAsync(new { action = "list", id = project }));
    }

    [Fact]
    public async Task A_rename_racing_a_remove_ends_with_the_container_gone_and_clear_answers()
    {
        for (var round = 0; round < 8; round++)
        {
            var name = SvacerApi.UniqueName("rr");
            var id = await api.AddIdAsync("project", name);
            var rename = api.ContainersAsync(new { action = "update", id, name = name + "-renamed" });
            var remove = api.ContainersAsync(new { action = "remove", id });
            var (renamed, removed) = (await rename, await remove);

            Assert.Equal(HttpStatusCode.OK, removed.Status);
            // The rename either happened before the remove, or found nothing to rename.
            Assert.True(renamed.Status == HttpStatusCode.OK || renamed.Status == HttpStatusCode.NotFound && renamed.Reason == "CONTAINER_NOT_FOUND", renamed.Text);
            var removedName = removed.Containers[0].GetProperty("name").GetString();
            Assert.Equal(renamed.Status == HttpStatusCode.OK ? name + "-renamed" : name, removedName);
            Assert.Empty(await api.ListAsync(new { action = "list", name }));
        }
    }

    [Fact]
    public async Task Add_to_group_racing_the_group_remove_leaves_no_membership_behind()
    {
        for (var round = 0; round < 8; round++)
        {
            var prefix = SvacerApi.UniqueName("ag");
            var group = await api.AddIdAsync("project-group", prefix + "-g");
            var project = await api.AddIdAsync("project", prefix + "-p");
            var add = api.GroupsAsync(new { action = "add-project-to-group", project_name_or_id = project, project_group_name_or_id = group });
            var remove = api.ContainersAsync(new { action = "remove", id = group, type = "project-group" });
            var (added, removed) = (await add, await remove);

            Assert.Equal(HttpStatusCode.OK, removed.Status);
            Assert.True(added.Status == HttpStatusCode.OK || added.Status == HttpStatusCode.NotFound && added.Reason == "CONTAINER_NOT_FOUND", added.Text);
            // The project survives, in no group.
            Assert.Empty(await api.ListAsync(new { action = "list", id = project, type = "project-group" }));
            Assert.Single(await api.ListAsync(new { action = "list", type = "project", name = prefix + "-p" }));
        }
    }

    [Fact]
    public async Task Concurrent_adds_of_one_membership_store_it_once()
    {
        var prefix = SvacerApi.UniqueName("am");
        var group = await api.AddIdAsync("project-group", prefix + "-g");
        await api.AddIdAsync("project", prefix + "-p");
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            api.GroupsAsync(new { action = "add-project-to-group", project_name_or_id = prefix + "-p", project_group_name_or_id = prefix + "-g" })));
        Assert.Single(answers, a => a.Status == HttpStatusCode.OK);
        Assert.All(answers.Where(a => a.Status != HttpStatusCode.OK), a => Assert.Equal("PROJECT_ALREADY_IN_GROUP", a.Reason));
        Assert.Single(await api.ListAsync(new { action = "list", id = group }));
    }
}
