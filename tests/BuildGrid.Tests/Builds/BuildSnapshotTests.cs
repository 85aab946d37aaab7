using BuildGrid.Builds.V1;
using BuildGrid.Core.Events;
using BuildGrid.Tests.Infrastructure;
using ContainersClient = BuildGrid.Containers.V1.Containers.ContainersClient;
using Cv1 = BuildGrid.Containers.V1;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// Builds → Containers through the integration event only: a succeeded build of a project's branch records a snapshot
/// on the container branch of the same names, once per event even when the event is delivered again.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class BuildSnapshotTests(StandaloneFixture fixture) : IDisposable
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    public void Dispose() => fixture.AssertNoErrorsLogged();

    [Fact]
    public async Task A_succeeded_build_of_a_branch_records_one_snapshot_on_the_matching_container_branch()
    {
        var containers = new ContainersClient(fixture.Channel);
        var builds = new BuildRuns.BuildRunsClient(fixture.Channel);
        var name = ImageMarketApi.UniqueName("snap");
        var project = await containers.CreateProjectAsync(new Cv1.CreateProjectRequest { Name = name }, cancellationToken: Ct);
        var branch = await containers.CreateBranchAsync(new Cv1.CreateBranchRequest { ProjectId = project.Id, Name = "main" }, cancellationToken: Ct);
        using var repo = await GitRepository.CreateAsync("main", new Dictionary<string, string> { ["README"] = "x" });

        var finished = new List<CloudEvent>();
        using var _ = fixture.Services.GetRequiredService<InProcessEventBus>().Subscribe("buildgrid.build.finished",
            (e, _) => { lock (finished) finished.Add(e); return Task.CompletedTask; });

        RunSpec Spec(string script)
        {
            var spec = Runs.Script(script);
            spec.Repos.Add(new RepoSpec { Url = repo.Url, Branch = "main" });
            return spec;
        }
        var failing = await builds.StartRunAsync(new StartRunRequest { Spec = Spec("exit 1"), Project = name }, cancellationToken: Ct);
        Assert.Equal(RunState.Failed, (await Runs.FinishedAsync(builds, failing.Id)).State);
        var run = await builds.StartRunAsync(new StartRunRequest { Spec = Spec("echo ok"), Project = name, Tag = "v1.2" }, cancellationToken: Ct);
        Assert.Equal(RunState.Succeeded, (await Runs.FinishedAsync(builds, run.Id)).State);

        var snapshots = await Eventually.Async(() => containers.ListSnapshots(new Cv1.ListSnapshotsRequest { BranchId = branch.Id }).Snapshots.ToList(),
            list => list.Count > 0);
        var snapshot = Assert.Single(snapshots);
        Assert.Equal(("v1.2", run.Id, repo.Commit), (snapshot.Name, snapshot.BuildRunId, snapshot.Commit));

        // At-least-once delivery: the same event again changes nothing.
        var original = await Eventually.Async(() => { lock (finished) return finished.FirstOrDefault(e => e.Data.Contains(run.Id)); }, e => e is not null);
        await fixture.Services.GetRequiredService<InProcessEventBus>().PublishAsync(original!, Ct);
        Assert.Single((await containers.ListSnapshotsAsync(new Cv1.ListSnapshotsRequest { BranchId = branch.Id }, cancellationToken: Ct)).Snapshots);
    }
}
