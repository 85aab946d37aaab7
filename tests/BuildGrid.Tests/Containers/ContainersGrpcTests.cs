using System.Text.Json;
using BuildGrid.Containers.V1;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Events;
using BuildGrid.Tests.Infrastructure;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace BuildGrid.Tests.Containers;

/// <summary>The Containers domain API through its typed gRPC client, on the shared standalone host.</summary>
[Collection(StandaloneCollection.Name)]
public sealed class ContainersGrpcTests(StandaloneFixture fixture) : IDisposable
{
    public void Dispose() => fixture.AssertNoErrorsLogged();

    readonly BuildGrid.Containers.V1.Containers.ContainersClient client = new(fixture.Channel);
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static async Task<Failure> FailsAsync<T>(StatusCode code, string reason, AsyncUnaryCall<T> call)
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.Equal(code, e.StatusCode);
        var info = e.Info();
        Assert.NotNull(info);
        Assert.Equal(reason, info.Reason);
        Assert.Equal("buildgrid", info.Domain);
        return new Failure(info.Reason, e.Status.Detail, info.Metadata.ToDictionary());
    }

    sealed record Failure(string Reason, string Message, Dictionary<string, string> Metadata);

    [Fact]
    public async Task Projects_branches_and_groups_have_typed_lifecycles()
    {
        var name = SvacerApi.UniqueName("grpc");
        var project = await client.CreateProjectAsync(new CreateProjectRequest { Name = name, ReviewWithComment = true }, cancellationToken: Ct);
        Assert.True(Guid.TryParseExact(project.Id, "D", out _));
        Assert.True(project.ReviewWithComment);
        Assert.InRange(project.CreateTime.ToDateTimeOffset(), DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.Equal(project, await client.GetProjectAsync(new GetProjectRequest { Name = name }, cancellationToken: Ct));
        Assert.Equal(project, await client.GetProjectAsync(new GetProjectRequest { Id = project.Id.ToUpperInvariant() }, cancellationToken: Ct));

        var branch = await client.CreateBranchAsync(new CreateBranchRequest { ProjectId = project.Id, Name = "main" }, cancellationToken: Ct);
        Assert.Equal(project.Id, branch.ProjectId);
        var group = await client.CreateProjectGroupAsync(new CreateProjectGroupRequest { Name = name }, cancellationToken: Ct);
        var membership = await client.AddProjectToGroupAsync(new AddProjectToGroupRequest { ProjectGroupId = group.Id, ProjectId = project.Id }, cancellationToken: Ct);
        Assert.Equal(name, membership.Project.Name);
        Assert.Equal(group.Id, membership.ProjectGroup.Id);

        Assert.Equal(Container.KindOneofCase.Branch, (await client.GetContainerAsync(new GetContainerRequest { Id = branch.Id }, cancellationToken: Ct)).KindCase);
        Assert.Equal(group, (await client.GetContainerAsync(new GetContainerRequest { Id = group.Id }, cancellationToken: Ct)).ProjectGroup);

        var kept = await client.UpdateProjectAsync(new UpdateProjectRequest { Id = project.Id, Name = name + "-x" }, cancellationToken: Ct);
        Assert.True(kept.ReviewWithComment);
        Assert.Equal(name + "-x", kept.Name);
        var cleared = await client.UpdateProjectAsync(new UpdateProjectRequest { Id = project.Id, ReviewWithComment = false }, cancellationToken: Ct);
        Assert.False(cleared.ReviewWithComment);
        Assert.Equal(name + "-x", cleared.Name);

        Assert.Equal([group.Id], (await client.ListProjectGroupsAsync(new ListProjectGroupsRequest { ProjectId = project.Id }, cancellationToken: Ct)).ProjectGroups.Select(g => g.Id));
        var deleted = await client.DeleteProjectAsync(new DeleteProjectRequest { Id = project.Id }, cancellationToken: Ct);
        Assert.Equal(name + "-x", deleted.Name);
        await FailsAsync(StatusCode.NotFound, Reasons.ContainerNotFound, client.GetBranchAsync(new GetBranchRequest { Id = branch.Id }, cancellationToken: Ct));
        Assert.Empty((await client.ListProjectsAsync(new ListProjectsRequest { ProjectGroupId = group.Id }, cancellationToken: Ct)).Projects);
    }

    [Fact]
    public async Task Creating_and_deleting_a_container_publishes_events()
    {
        var bus = fixture.Services.GetRequiredService<InProcessEventBus>();
        var name = SvacerApi.UniqueName("evt");
        var created = new TaskCompletionSource<CloudEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        var deleted = new TaskCompletionSource<CloudEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var onCreated = bus.Subscribe("buildgrid.container.created", (e, _) =>
        {
            if (e.Data.Contains(name, StringComparison.Ordinal)) created.TrySetResult(e);
            return Task.CompletedTask;
        });
        using var onDeleted = bus.Subscribe("buildgrid.container.deleted", (e, _) =>
        {
            if (e.Data.Contains(name, StringComparison.Ordinal)) deleted.TrySetResult(e);
            return Task.CompletedTask;
        });
        var group = await client.CreateProjectGroupAsync(new CreateProjectGroupRequest { Name = name }, cancellationToken: Ct);
        using (var data = JsonDocument.Parse((await created.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct)).Data))
        {
            Assert.Equal(group.Id, data.RootElement.GetProperty("id").GetString());
            Assert.Equal("project-group", data.RootElement.GetProperty("kind").GetString());
        }
        await client.DeleteProjectGroupAsync(new DeleteProjectGroupRequest { Id = group.Id }, cancellationToken: Ct);
        var gone = await deleted.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal("buildgrid.events.v1.ContainerDeleted", gone.Type);
    }

    [Fact]
    public async Task Lists_page_with_tokens_in_name_then_id_order()
    {
        var prefix = SvacerApi.UniqueName("page");
        var names = new[] { "e", "a", "d", "b", "c" }.Select(n => $"{prefix}-{n}").ToList();
        foreach (var n in names)
            await client.CreateProjectAsync(new CreateProjectRequest { Name = n }, cancellationToken: Ct);
        var project = await client.GetProjectAsync(new GetProjectRequest { Name = names[0] }, cancellationToken: Ct);
        // Branch names repeat across projects: the global branch list breaks ties by id.
        var other = await client.CreateProjectAsync(new CreateProjectRequest { Name = prefix + "-other" }, cancellationToken: Ct);
        var b1 = await client.CreateBranchAsync(new CreateBranchRequest { ProjectId = project.Id, Name = prefix + "-br" }, cancellationToken: Ct);
        var b2 = await client.CreateBranchAsync(new CreateBranchRequest { ProjectId = other.Id, Name = prefix + "-br" }, cancellationToken: Ct);

        var seen = new List<string>();
        var request = new ListProjectsRequest { PageSize = 2, NameContains = prefix + "-" };
        var pages = 0;
        do
        {
            var page = await client.ListProjectsAsync(request, cancellationToken: Ct);
            Assert.True(page.Projects.Count <= 2);
            seen.AddRange(page.Projects.Select(p => p.Name));
            request.PageToken = page.NextPageToken;
            pages++;
        }
        while (request.PageToken.Length > 0);
        Assert.Equal(names.Append(prefix + "-other").Order(StringComparer.Ordinal), seen);
        Assert.Equal(3, pages);

        var branches = new List<string>();
        var branchRequest = new ListBranchesRequest { PageSize = 1, NameContains = prefix };
        do
        {
            var page = await client.ListBranchesAsync(branchRequest, cancellationToken: Ct);
            branches.AddRange(page.Branches.Select(b => b.Id));
            branchRequest.PageToken = page.NextPageToken;
        }
        while (branchRequest.PageToken.Length > 0);
        Assert.Equal(new[] { b1.Id, b2.Id }.Order(StringComparer.Ordinal), branches);

        await FailsAsync(StatusCode.InvalidArgument, Reasons.InvalidArgument, client.ListProjectsAsync(new ListProjectsRequest { PageToken = "bm90IGEgdG9rZW4" }, cancellationToken: Ct));
        await FailsAsync(StatusCode.InvalidArgument, Reasons.InvalidArgument, client.ListProjectsAsync(new ListProjectsRequest { PageSize = -1 }, cancellationToken: Ct));
        var capped = await client.ListProjectsAsync(new ListProjectsRequest { PageSize = 100000 }, cancellationToken: Ct);
        Assert.True(capped.Projects.Count <= 1000);
    }

    [Fact]
    public async Task Errors_carry_status_codes_and_reasons_naming_the_field()
    {
        var name = SvacerApi.UniqueName("err");
        await client.CreateProjectAsync(new CreateProjectRequest { Name = name }, cancellationToken: Ct);
        var exists = await FailsAsync(StatusCode.AlreadyExists, Reasons.ContainerAlreadyExists, client.CreateProjectAsync(new CreateProjectRequest { Name = name }, cancellationToken: Ct));
        Assert.Equal("project", exists.Metadata["kind"]);
        var missing = await FailsAsync(StatusCode.NotFound, Reasons.ContainerNotFound, client.GetProjectAsync(new GetProjectRequest { Id = Guid.Empty.ToString() }, cancellationToken: Ct));
        Assert.Equal(Guid.Empty.ToString(), missing.Metadata["id"]);
        var required = await FailsAsync(StatusCode.InvalidArgument, Reasons.InvalidArgument, client.CreateProjectAsync(new CreateProjectRequest(), cancellationToken: Ct));
        Assert.Equal("name", required.Metadata["field"]);
        var badId = await FailsAsync(StatusCode.InvalidArgument, Reasons.InvalidArgument, client.CreateBranchAsync(new CreateBranchRequest { ProjectId = "x", Name = "b" }, cancellationToken: Ct));
        Assert.Equal("project_id", badId.Metadata["field"]);
        await FailsAsync(StatusCode.NotFound, Reasons.ContainerNotFound, client.CreateBranchAsync(new CreateBranchRequest { ProjectId = Guid.NewGuid().ToString(), Name = "b" }, cancellationToken: Ct));
        await FailsAsync(StatusCode.InvalidArgument, Reasons.InvalidArgument, client.GetProjectAsync(new GetProjectRequest(), cancellationToken: Ct));
        await FailsAsync(StatusCode.NotFound, Reasons.ContainerNotFound, client.GetContainerAsync(new GetContainerRequest { Id = Guid.NewGuid().ToString() }, cancellationToken: Ct));
    }

    [Fact]
    public async Task Snapshots_record_what_produced_them_and_publish_an_event()
    {
        var project = await client.CreateProjectAsync(new CreateProjectRequest { Name = SvacerApi.UniqueName("snap") }, cancellationToken: Ct);
        var branch = await client.CreateBranchAsync(new CreateBranchRequest { ProjectId = project.Id, Name = "main" }, cancellationToken: Ct);
        var received = new TaskCompletionSource<CloudEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = fixture.Services.GetRequiredService<InProcessEventBus>().Subscribe("buildgrid.branch_snapshot.recorded", (e, _) =>
        {
            if (e.Data.Contains(branch.Id, StringComparison.Ordinal))
                received.TrySetResult(e);
            return Task.CompletedTask;
        });

        var time = Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 1, 2, 3, 4, 5, 678, TimeSpan.Zero));
        var digest = "sha256:" + new string('a', 64);
        var metadata = Struct.Parser.ParseJson("""{"builder": "buildah", "tags": ["1.0", "latest"], "size": 1234}""");
        var snapshot = await client.CreateSnapshotAsync(new CreateSnapshotRequest
        {
            BranchId = branch.Id, Name = "build 42", Time = time, BuildRunId = "run-42", Commit = "0123456789abcdef0123456789abcdef01234567",
            ImageDigest = digest, Metadata = metadata,
        }, cancellationToken: Ct);
        var stored = await client.GetSnapshotAsync(new GetSnapshotRequest { Id = snapshot.Id }, cancellationToken: Ct);
        Assert.Equal(snapshot, stored);
        Assert.Equal(time, stored.CreateTime);
        Assert.Equal("run-42", stored.BuildRunId);
        Assert.Equal(digest, stored.ImageDigest);
        Assert.Equal(metadata, stored.Metadata);

        var published = await received.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        using (var data = JsonDocument.Parse(published.Data))
        {
            Assert.Equal(snapshot.Id, data.RootElement.GetProperty("snapshotId").GetString());
            Assert.Equal(project.Id, data.RootElement.GetProperty("projectId").GetString());
            Assert.Equal("run-42", data.RootElement.GetProperty("buildRunId").GetString());
            Assert.Equal(digest, data.RootElement.GetProperty("imageDigest").GetString());
        }

        var now = await client.CreateSnapshotAsync(new CreateSnapshotRequest { BranchId = branch.Id, Name = "adhoc" }, cancellationToken: Ct);
        Assert.InRange(now.CreateTime.ToDateTimeOffset(), DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddSeconds(1));
        var renamed = await client.RenameSnapshotAsync(new RenameSnapshotRequest { Id = now.Id, Name = "a-first" }, cancellationToken: Ct);
        Assert.Equal("a-first", renamed.Name);
        Assert.Equal(["a-first", "build 42"], (await client.ListSnapshotsAsync(new ListSnapshotsRequest { BranchId = branch.Id }, cancellationToken: Ct)).Snapshots.Select(s => s.Name));

        await FailsAsync(StatusCode.InvalidArgument, Reasons.InvalidArgument, client.CreateSnapshotAsync(new CreateSnapshotRequest { BranchId = branch.Id, Name = "x", ImageDigest = "latest" }, cancellationToken: Ct));
        await FailsAsync(StatusCode.InvalidArgument, Reasons.InvalidArgument, client.CreateSnapshotAsync(new CreateSnapshotRequest { BranchId = branch.Id, Name = "x", Commit = "a b" }, cancellationToken: Ct));
        await FailsAsync(StatusCode.NotFound, Reasons.ContainerNotFound, client.CreateSnapshotAsync(new CreateSnapshotRequest { BranchId = Guid.NewGuid().ToString(), Name = "x" }, cancellationToken: Ct));
        await FailsAsync(StatusCode.NotFound, Reasons.ContainerNotFound, client.ListSnapshotsAsync(new ListSnapshotsRequest { BranchId = Guid.NewGuid().ToString() }, cancellationToken: Ct));
        await FailsAsync(StatusCode.NotFound, Reasons.SnapshotNotFound, client.RenameSnapshotAsync(new RenameSnapshotRequest { Id = Guid.NewGuid().ToString(), Name = "x" }, cancellationToken: Ct));
        var huge = new Struct { Fields = { ["blob"] = Value.ForString(new string('x', 70 * 1024)) } };
        await FailsAsync(StatusCode.InvalidArgument, Reasons.InvalidArgument, client.CreateSnapshotAsync(new CreateSnapshotRequest { BranchId = branch.Id, Name = "x", Metadata = huge }, cancellationToken: Ct));
    }
}
