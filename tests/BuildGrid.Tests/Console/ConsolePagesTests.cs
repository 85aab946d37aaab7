using System.Net;
using BuildGrid.Builds.V1;
using BuildGrid.Containers.V1;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Console;

/// <summary>
/// The console's other pages over plain HTTP, signed in as the admin: Zadig definitions (parameters in, a run out),
/// cancelling a run, Svacer projects → branches → snapshots and groups, Quay notifications.
/// </summary>
public sealed class ConsolePagesTests(GuardedConsoleHost fixture) : IClassFixture<GuardedConsoleHost>
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    async Task<ConsoleClient> SignedInAsync()
    {
        var client = new ConsoleClient(fixture.Host.RestUrl);
        await client.SignInAsync("admin", GuardedConsoleHost.Password);
        return client;
    }

    [Fact]
    public async Task A_definitions_page_starts_a_run_with_its_parameters_and_the_run_page_cancels_one()
    {
        var definitions = new BuildDefinitions.BuildDefinitionsClient(fixture.Channel);
        var runs = new BuildRuns.BuildRunsClient(fixture.Channel);
        var project = ImageMarketApi.UniqueName("zadig").Replace('-', '_');
        await definitions.CreateDefinitionAsync(new CreateDefinitionRequest
        {
            Definition = new Definition
            {
                Name = "hello", ProjectKey = project, Infrastructure = "vm", BuildOs = "ubuntu", ScriptType = "shell", BuildScript = "echo \"VERSION=$VERSION\"",
                Services = { new ServiceWithModule { ServiceName = "api", ServiceModule = "api" } },
                Parameters = { new Parameter { Key = "VERSION", Type = "string", DefaultValue = "1", Description = "the version to print" } },
            },
        }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        using var client = await SignedInAsync();

        var list = await client.PageAsync($"/console/definitions?project={project}");
        Assert.Contains($"href=\"/console/definitions/{project}/hello\"", list);
        var page = $"/console/definitions/{project}/hello";
        var html = await client.PageAsync(page);
        Assert.Contains("VERSION — the version to print", html);
        using var started = await client.PostFormAsync(page, page + "?handler=Start",
            [new("Service", "api/api"), new("InputKeys[0]", "VERSION"), new("InputValues[0]", "2.5"), new("Tag", "")]);
        Assert.Equal(HttpStatusCode.Redirect, started.StatusCode);
        var id = started.Headers.Location!.OriginalString.Split('/')[^1];
        var run = await Runs.FinishedAsync(runs, id, 120, GuardedConsoleHost.Admin);
        Assert.True(run.State == RunState.Succeeded, $"{run.State}: {run.FailureReason}");
        Assert.Contains("VERSION=2.5", await Runs.LogAsync(runs, id, GuardedConsoleHost.Admin));
        Assert.Contains($"href=\"/console/runs/{id}\"", await client.PageAsync(page));

        // Cancel from the run page.
        var slow = await runs.StartRunAsync(new StartRunRequest { Spec = Runs.Script("echo started; sleep 60") }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        await Runs.WaitAsync(runs, slow.Id, r => r.State == RunState.Running, 60, GuardedConsoleHost.Admin);
        var runPage = $"/console/runs/{slow.Id}";
        Assert.Contains("Cancel run", await client.PageAsync(runPage));
        using (var cancel = await client.PostFormAsync(runPage, runPage + "?handler=Cancel", []))
            Assert.Equal(HttpStatusCode.Redirect, cancel.StatusCode);
        Assert.Equal(RunState.Cancelled, (await Runs.FinishedAsync(runs, slow.Id, 60, GuardedConsoleHost.Admin)).State);
        var after = await client.PageAsync(runPage);
        Assert.Contains("Cancel requested.", after);
        Assert.DoesNotContain("Cancel run", after);
    }

    [Fact]
    public async Task Svacer_pages_show_projects_branches_snapshots_and_group_members()
    {
        var containers = new BuildGrid.Containers.V1.Containers.ContainersClient(fixture.Channel);
        var name = ImageMarketApi.UniqueName("svacer");
        var project = await containers.CreateProjectAsync(new BuildGrid.Containers.V1.CreateProjectRequest { Name = name }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        var branch = await containers.CreateBranchAsync(new CreateBranchRequest { ProjectId = project.Id, Name = "main" }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        await containers.CreateSnapshotAsync(new CreateSnapshotRequest { BranchId = branch.Id, Name = "snap-1" }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        var group = await containers.CreateProjectGroupAsync(new CreateProjectGroupRequest { Name = name + "-group" }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        await containers.AddProjectToGroupAsync(new AddProjectToGroupRequest { ProjectGroupId = group.Id, ProjectId = project.Id }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        using var client = await SignedInAsync();

        var index = await client.PageAsync($"/console/svacer?q={name}");
        Assert.Contains($"href=\"/console/svacer/projects/{project.Id}\"", index);
        Assert.Contains($"href=\"/console/svacer/groups/{group.Id}\"", index);
        var projectPage = await client.PageAsync($"/console/svacer/projects/{project.Id}");
        Assert.Contains("<h3>main</h3>", projectPage);
        Assert.Contains("<td>snap-1</td>", projectPage);
        Assert.Contains($"{name}-group</a>", projectPage);
        Assert.Contains($">{name}</a>", await client.PageAsync($"/console/svacer/groups/{group.Id}"));
        using var missing = await client.GetAsync("/console/svacer/projects/00000000-0000-0000-0000-000000000000");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("Not found:", await missing.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Notifications_are_created_tested_reset_and_deleted_from_their_page()
    {
        var registry = new BuildGrid.Registry.V1.Registry.RegistryClient(fixture.Channel);
        var repository = ImageMarketApi.UniqueName("notify").Replace('-', '_') + "/app";
        await registry.CreateRepositoryAsync(new BuildGrid.Registry.V1.CreateRepositoryRequest { Name = repository }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        using var client = await SignedInAsync();
        var page = $"/console/registry/notifications?name={Uri.EscapeDataString(repository)}";
        Assert.Contains("No notifications.", await client.PageAsync(page));

        using (var created = await client.PostFormAsync(page, page + "&handler=Create",
            [new("Title", "ci hook"), new("Event", "repo_push"), new("Method", "webhook"), new("TargetUrl", "https://hooks.example.invalid/buildgrid")]))
            Assert.True(created.StatusCode == HttpStatusCode.Redirect, await created.Content.ReadAsStringAsync(Ct));
        var listed = (await registry.ListNotificationsAsync(new BuildGrid.Registry.V1.ListNotificationsRequest { Repository = repository }, GuardedConsoleHost.Admin,
            cancellationToken: Ct)).Notifications;
        var notification = Assert.Single(listed);
        Assert.Equal(("ci hook", "repo_push", "webhook"), (notification.Title, notification.Event, notification.Method));
        var html = await client.PageAsync(page);
        Assert.Contains("Notification created.", html);
        Assert.Contains("https://hooks.example.invalid/buildgrid", html);

        foreach (var (handler, notice) in new[] { ("Test", "Test notification queued."), ("Reset", "Notification reset"), ("Delete", "Notification deleted.") })
        {
            using var answer = await client.PostFormAsync(page, page + "&handler=" + handler, [new("Uuid", notification.Uuid)]);
            Assert.True(answer.StatusCode == HttpStatusCode.Redirect, $"{handler}: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync(Ct)}");
            Assert.Contains(notice, await client.PageAsync(page));
        }
        Assert.Empty((await registry.ListNotificationsAsync(new BuildGrid.Registry.V1.ListNotificationsRequest { Repository = repository }, GuardedConsoleHost.Admin,
            cancellationToken: Ct)).Notifications);

        // A refusal of the service shows in words, and the form is answered, not failed.
        using var bad = await client.PostFormAsync(page, page + "&handler=Create", [new("Event", "no_such_event"), new("Method", "webhook"), new("TargetUrl", "https://x.invalid/")]);
        Assert.Equal(HttpStatusCode.OK, bad.StatusCode);
        Assert.Contains("Invalid input:", await bad.Content.ReadAsStringAsync(Ct));
    }
}
