using BuildGrid.Containers.Domain;
using BuildGrid.Containers.Storage;
using BuildGrid.Containers.V1;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Identity;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace BuildGrid.Containers.Grpc;

/// <summary>
/// The Containers gRPC API: validates with <see cref="ContainerRules"/>, then calls the stores.
/// Access: Svacer's projects, branches, groups and snapshots carry no namespace, so they are one shared space, governed
/// by the roles in <c>default_cluster</c>: any signed-in caller reads, writing needs developer there, deleting a project,
/// branch or group owner (administrators hold both).
/// </summary>
public sealed class ContainersService(ContainerStore store, SnapshotStore snapshots) : V1.Containers.ContainersBase
{
    const string Namespace = "default_cluster";

    static void Write(ServerCallContext context) => Access.Require(context, Namespace, Role.Developer);

    static void Delete(ServerCallContext context) => Access.Require(context, Namespace, Role.Owner);

    // ---- projects ----

    public override Task<Project> CreateProject(CreateProjectRequest request, ServerCallContext context)
    {
        Write(context);
        var now = store.Now();
        return store.InsertProjectAsync(new Project
        {
            Id = ContainerRules.NewId(), Name = ContainerRules.ValidateName(request.Name, "name"), ReviewWithComment = request.ReviewWithComment,
            CreateTime = now, UpdateTime = now,
        }, context.CancellationToken);
    }

    public override async Task<Project> GetProject(GetProjectRequest request, ServerCallContext context) => request.KeyCase switch
    {
        GetProjectRequest.KeyOneofCase.Id => await store.FindProjectAsync(ContainerRules.ParseId(request.Id, "id"), null, context.CancellationToken)
            ?? throw ContainerRules.NotFound(ContainerKinds.Project, request.Id),
        GetProjectRequest.KeyOneofCase.Name => await store.FindProjectAsync(null, ContainerRules.ValidateName(request.Name, "name"), context.CancellationToken)
            ?? throw ContainerRules.NotFound(ContainerKinds.Project, request.Name),
        _ => throw Errors.Invalid(Reasons.InvalidArgument, "id", "id or name is required"),
    };

    public override async Task<ListProjectsResponse> ListProjects(ListProjectsRequest request, ServerCallContext context)
    {
        var (items, next) = await store.ListProjectsAsync(Page.From(request.PageSize, request.PageToken),
            ContainerRules.ValidateFilter(request.NameContains, "name_contains"),
            ContainerRules.ParseOptionalId(request.ProjectGroupId, "project_group_id"), context.CancellationToken);
        return new ListProjectsResponse { Projects = { items }, NextPageToken = next };
    }

    public override Task<Project> UpdateProject(UpdateProjectRequest request, ServerCallContext context)
    {
        Write(context);
        return store.UpdateProjectAsync(ContainerRules.ParseId(request.Id, "id"),
            request.Name.Length == 0 ? null : ContainerRules.ValidateName(request.Name, "name"),
            request.HasReviewWithComment ? request.ReviewWithComment : null, context.CancellationToken);
    }

    public override Task<Project> DeleteProject(DeleteProjectRequest request, ServerCallContext context)
    {
        Delete(context);
        return store.DeleteProjectAsync(ContainerRules.ParseId(request.Id, "id"), context.CancellationToken);
    }

    // ---- branches ----

    public override Task<Branch> CreateBranch(CreateBranchRequest request, ServerCallContext context)
    {
        Write(context);
        var now = store.Now();
        return store.InsertBranchAsync(new Branch
        {
            Id = ContainerRules.NewId(), ProjectId = ContainerRules.ParseId(request.ProjectId, "project_id"),
            Name = ContainerRules.ValidateName(request.Name, "name"), CreateTime = now, UpdateTime = now,
        }, context.CancellationToken);
    }

    public override async Task<Branch> GetBranch(GetBranchRequest request, ServerCallContext context) =>
        await store.FindBranchAsync(ContainerRules.ParseId(request.Id, "id"), context.CancellationToken)
        ?? throw ContainerRules.NotFound(ContainerKinds.Branch, request.Id);

    public override async Task<ListBranchesResponse> ListBranches(ListBranchesRequest request, ServerCallContext context)
    {
        var (items, next) = await store.ListBranchesAsync(Page.From(request.PageSize, request.PageToken),
            ContainerRules.ValidateFilter(request.NameContains, "name_contains"),
            ContainerRules.ParseOptionalId(request.ProjectId, "project_id"), context.CancellationToken);
        return new ListBranchesResponse { Branches = { items }, NextPageToken = next };
    }

    public override Task<Branch> UpdateBranch(UpdateBranchRequest request, ServerCallContext context)
    {
        Write(context);
        return store.RenameBranchAsync(ContainerRules.ParseId(request.Id, "id"), ContainerRules.ValidateName(request.Name, "name"), context.CancellationToken);
    }

    public override Task<Branch> DeleteBranch(DeleteBranchRequest request, ServerCallContext context)
    {
        Delete(context);
        return store.DeleteBranchAsync(ContainerRules.ParseId(request.Id, "id"), context.CancellationToken);
    }

    // ---- project groups ----

    public override Task<ProjectGroup> CreateProjectGroup(CreateProjectGroupRequest request, ServerCallContext context)
    {
        Write(context);
        var now = store.Now();
        return store.InsertGroupAsync(new ProjectGroup
        {
            Id = ContainerRules.NewId(), Name = ContainerRules.ValidateName(request.Name, "name"), CreateTime = now, UpdateTime = now,
        }, context.CancellationToken);
    }

    public override async Task<ProjectGroup> GetProjectGroup(GetProjectGroupRequest request, ServerCallContext context) => request.KeyCase switch
    {
        GetProjectGroupRequest.KeyOneofCase.Id => await store.FindGroupAsync(ContainerRules.ParseId(request.Id, "id"), null, context.CancellationToken)
            ?? throw ContainerRules.NotFound(ContainerKinds.ProjectGroup, request.Id),
        GetProjectGroupRequest.KeyOneofCase.Name => await store.FindGroupAsync(null, ContainerRules.ValidateName(request.Name, "name"), context.CancellationToken)
            ?? throw ContainerRules.NotFound(ContainerKinds.ProjectGroup, request.Name),
        _ => throw Errors.Invalid(Reasons.InvalidArgument, "id", "id or name is required"),
    };

    public override async Task<ListProjectGroupsResponse> ListProjectGroups(ListProjectGroupsRequest request, ServerCallContext context)
    {
        var (items, next) = await store.ListGroupsAsync(Page.From(request.PageSize, request.PageToken),
            ContainerRules.ValidateFilter(request.NameContains, "name_contains"),
            ContainerRules.ParseOptionalId(request.ProjectId, "project_id"), context.CancellationToken);
        return new ListProjectGroupsResponse { ProjectGroups = { items }, NextPageToken = next };
    }

    public override Task<ProjectGroup> UpdateProjectGroup(UpdateProjectGroupRequest request, ServerCallContext context)
    {
        Write(context);
        return store.RenameGroupAsync(ContainerRules.ParseId(request.Id, "id"), ContainerRules.ValidateName(request.Name, "name"), context.CancellationToken);
    }

    public override Task<ProjectGroup> DeleteProjectGroup(DeleteProjectGroupRequest request, ServerCallContext context)
    {
        Delete(context);
        return store.DeleteGroupAsync(ContainerRules.ParseId(request.Id, "id"), context.CancellationToken);
    }

    public override Task<Membership> AddProjectToGroup(AddProjectToGroupRequest request, ServerCallContext context)
    {
        Write(context);
        return store.AddMemberAsync(ContainerRules.ParseId(request.ProjectGroupId, "project_group_id"),
            ContainerRules.ParseId(request.ProjectId, "project_id"), context.CancellationToken);
    }

    public override Task<Membership> RemoveProjectFromGroup(RemoveProjectFromGroupRequest request, ServerCallContext context)
    {
        Write(context);
        return store.RemoveMemberAsync(ContainerRules.ParseId(request.ProjectGroupId, "project_group_id"),
            ContainerRules.ParseId(request.ProjectId, "project_id"), context.CancellationToken);
    }

    // ---- snapshots ----

    public override Task<Snapshot> CreateSnapshot(CreateSnapshotRequest request, ServerCallContext context)
    {
        Write(context);
        var now = store.Now();
        var metadata = request.Metadata ?? new Struct();
        if (metadata.CalculateSize() > ContainerRules.MaxMetadataBytes || JsonFormatter.Default.Format(metadata).Length > ContainerRules.MaxMetadataBytes)
            throw Errors.Invalid(Reasons.InvalidArgument, "metadata", $"metadata is larger than {ContainerRules.MaxMetadataBytes} bytes");
        return snapshots.InsertAsync(new Snapshot
        {
            Id = ContainerRules.NewId(), BranchId = ContainerRules.ParseId(request.BranchId, "branch_id"),
            Name = ContainerRules.ValidateName(request.Name, "name"),
            CreateTime = request.Time is { } time ? Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(time.ToDateTimeOffset().ToUnixTimeMilliseconds())) : now,
            UpdateTime = now,
            BuildRunId = ContainerRules.ValidateSourceField(request.BuildRunId, "build_run_id"),
            Commit = ContainerRules.ValidateSourceField(request.Commit, "commit"),
            ImageDigest = ContainerRules.ValidateDigest(request.ImageDigest, "image_digest"),
            Metadata = metadata,
        }, context.CancellationToken);
    }

    public override async Task<Snapshot> GetSnapshot(GetSnapshotRequest request, ServerCallContext context) =>
        await snapshots.FindAsync(ContainerRules.ParseId(request.Id, "id"), context.CancellationToken)
        ?? throw ContainerRules.NotFound(ContainerKinds.Snapshot, request.Id);

    public override async Task<ListSnapshotsResponse> ListSnapshots(ListSnapshotsRequest request, ServerCallContext context)
    {
        var branchId = ContainerRules.ParseId(request.BranchId, "branch_id");
        var page = Page.From(request.PageSize, request.PageToken);
        var (items, next) = await snapshots.ListAsync(page, branchId, context.CancellationToken);
        // An unknown branch is an error, not an empty list (checked only when the page is empty, the rare case).
        if (items.Count == 0 && page.AfterName is null && await store.FindBranchAsync(branchId, context.CancellationToken) is null)
            throw ContainerRules.NotFound(ContainerKinds.Branch, branchId);
        return new ListSnapshotsResponse { Snapshots = { items }, NextPageToken = next };
    }

    public override Task<Snapshot> RenameSnapshot(RenameSnapshotRequest request, ServerCallContext context)
    {
        Write(context);
        return snapshots.RenameAsync(ContainerRules.ParseId(request.Id, "id"), ContainerRules.ValidateName(request.Name, "name"), context.CancellationToken);
    }

    public override async Task<Container> GetContainer(GetContainerRequest request, ServerCallContext context) =>
        await store.FindContainerAsync(ContainerRules.ParseId(request.Id, "id"), context.CancellationToken)
        ?? throw ContainerRules.NotFound("container", request.Id);
}
