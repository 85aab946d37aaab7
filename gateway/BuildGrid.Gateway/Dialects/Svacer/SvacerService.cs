using BuildGrid.Containers.V1;
using BuildGrid.Core.Errors;
using BuildGrid.Gateway.Svacer.V1;
using Grpc.Core;
using Cv1 = BuildGrid.Containers.V1;
using Sv = BuildGrid.Gateway.Svacer.V1;
using V1Branch = BuildGrid.Containers.V1.Branch;
using V1Group = BuildGrid.Containers.V1.ProjectGroup;
using V1Project = BuildGrid.Containers.V1.Project;
using V1Snapshot = BuildGrid.Containers.V1.Snapshot;

namespace BuildGrid.Gateway.Dialects.Svacer;

/// <summary>
/// The Svacer container API (seed 001): binds each REST call, calls the Containers service, and answers the
/// documented shapes. Lists come in a fixed order: by kind as the document's examples show them (project groups, then
/// projects, then branches, then snapshots), and within a kind by name, then id. Errors: <see cref="SvacerErrors"/>.
/// </summary>
public sealed class SvacerService(Cv1.Containers.ContainersClient containers) : Sv.Svacer.SvacerBase
{
    const int PageSize = 1000;

    const string TypeProject = "project";
    const string TypeBranch = "branch";
    const string TypeGroup = "project-group";
    const string TypeSnapshot = "snapshot";
    const string AllowedTypes = "project, branch, project-group";
    const string AllowedActions = "list, add, update, remove";
    const string AllowedGroupActions = "get, add-project-to-group, remove-project-from-group";

    public override async Task<ContainersResponse> Containers(ContainersRequest request, ServerCallContext context)
    {
        LenientBody.MergeInto(request, request.Body);
        var action = request.Action.Trim().ToLowerInvariant();
        var type = ParseType(request.Type, context);
        return action switch
        {
            "list" => await ListAsync(request, type, context),
            "add" => One(await AddAsync(request, type, context), "add"),
            "update" => One(await UpdateAsync(request, type, context), "update"),
            "remove" => One(await RemoveAsync(request, type, context), "remove"),
            "" => throw SvacerErrors.Bad($"action is required; allowed values: {AllowedActions}"),
            _ => throw SvacerErrors.Bad($"unknown action '{Show(request.Action)}'; allowed values: {AllowedActions}"),
        };
    }

    public override async Task<ProjectGroupsResponse> ProjectGroups(ProjectGroupsRequest request, ServerCallContext context)
    {
        LenientBody.MergeInto(request, request.Body);
        var action = request.Action.Trim().ToLowerInvariant();
        if (action is not ("get" or "add-project-to-group" or "remove-project-from-group"))
            throw SvacerErrors.Bad(action.Length == 0
                ? $"action is required; allowed values: {AllowedGroupActions}"
                : $"unknown action '{Show(request.Action)}'; allowed values: {AllowedGroupActions}");
        if (request.ProjectGroupNameOrId.Length == 0)
            throw SvacerErrors.Bad("project_group_name_or_id is required");
        if (action != "get" && request.ProjectNameOrId.Length == 0)
            throw SvacerErrors.Bad("project_name_or_id is required");

        var group = await ResolveGroupAsync(request.ProjectGroupNameOrId, context);
        if (action == "get")
            return new ProjectGroupsResponse { Action = action, ProjectGroupId = group.Id, ProjectGroupName = group.Name };
        var project = await ResolveProjectAsync(request.ProjectNameOrId, context);
        var membership = action == "add-project-to-group"
            ? await containers.AddProjectToGroupAsync(new AddProjectToGroupRequest { ProjectGroupId = group.Id, ProjectId = project.Id })
            : await containers.RemoveProjectFromGroupAsync(new RemoveProjectFromGroupRequest { ProjectGroupId = group.Id, ProjectId = project.Id });
        return new ProjectGroupsResponse
        {
            Action = action,
            ProjectGroupId = membership.ProjectGroup.Id, ProjectGroupName = membership.ProjectGroup.Name,
            ProjectId = membership.Project.Id, ProjectName = membership.Project.Name,
        };
    }

    public override async Task<ContainerItem> UpdateSnapshot(UpdateSnapshotRequest request, ServerCallContext context)
    {
        // The id is the path's; a body cannot redirect the rename to another snapshot.
        var id = request.SnapshotId;
        LenientBody.MergeInto(request, request.Body);
        request.SnapshotId = id;
        if (request.Name.Length == 0)
            throw SvacerErrors.Bad("name is required");
        var snapshot = await containers.RenameSnapshotAsync(new RenameSnapshotRequest { Id = ParseId(id, "snapshot_id", context), Name = request.Name });
        var item = Item(snapshot);
        item.Action = "update";
        return item;
    }

    // ---- containers actions ----

    async Task<ContainersResponse> ListAsync(ContainersRequest request, string? type, ServerCallContext context)
    {
        var response = new ContainersResponse();
        var items = response.Containers;
        if (request.Id.Length == 0)
        {
            var name = request.Name;
            if (type is null or TypeGroup)
                items.AddRange(await AllGroupsAsync(new ListProjectGroupsRequest { NameContains = name }, context));
            if (type is null or TypeProject)
                items.AddRange(await AllProjectsAsync(new ListProjectsRequest { NameContains = name }, context));
            if (type is TypeBranch)
                items.AddRange(await AllBranchesAsync(new ListBranchesRequest { NameContains = name }, context));
            return response;
        }

        // With an id, the containers related to it; the name filter does not apply, the type filter does.
        var container = await containers.GetContainerAsync(new GetContainerRequest { Id = ParseId(request.Id, "id", context) });
        switch (container.KindCase)
        {
            case Container.KindOneofCase.ProjectGroup:
                if (type is null or TypeProject)
                    items.AddRange(await AllProjectsAsync(new ListProjectsRequest { ProjectGroupId = container.ProjectGroup.Id }, context));
                break;
            case Container.KindOneofCase.Project:
                if (type is null or TypeGroup)
                    items.AddRange(await AllGroupsAsync(new ListProjectGroupsRequest { ProjectId = container.Project.Id }, context));
                if (type is null or TypeBranch)
                    items.AddRange(await AllBranchesAsync(new ListBranchesRequest { ProjectId = container.Project.Id }, context));
                break;
            case Container.KindOneofCase.Branch:
                // A branch holds snapshots, which are none of the filterable types.
                if (type is null)
                    items.AddRange(await AllSnapshotsAsync(container.Branch.Id, context));
                break;
        }
        return response;
    }

    async Task<ContainerItem> AddAsync(ContainersRequest request, string? type, ServerCallContext context)
    {
        if (request.Name.Length == 0)
            throw SvacerErrors.Bad("name is required");
        switch (type)
        {
            case TypeProject:
                return Item(await containers.CreateProjectAsync(new CreateProjectRequest
                {
                    Name = request.Name, ReviewWithComment = request.HasReviewWithComment && request.ReviewWithComment,
                }), withSettings: true);
            case TypeBranch:
                if (request.Parent.Length == 0)
                    throw SvacerErrors.Bad("parent is required for a branch: the name or id of its project");
                var project = await ResolveProjectAsync(request.Parent, context);
                return Item(await containers.CreateBranchAsync(new CreateBranchRequest { ProjectId = project.Id, Name = request.Name }));
            case TypeGroup:
                return Item(await containers.CreateProjectGroupAsync(new CreateProjectGroupRequest { Name = request.Name }));
            default:
                throw SvacerErrors.Bad($"type is required for add; allowed values: {AllowedTypes}");
        }
    }

    async Task<ContainerItem> UpdateAsync(ContainersRequest request, string? type, ServerCallContext context)
    {
        var container = await FindAsync(request, type, context);
        if (request.Name.Length == 0)
            throw SvacerErrors.Bad("name is required: the container's new name");
        return container.KindCase switch
        {
            Container.KindOneofCase.Project => Item(await containers.UpdateProjectAsync(UpdateOf(container.Project, request)), withSettings: true),
            Container.KindOneofCase.Branch => Item(await containers.UpdateBranchAsync(new UpdateBranchRequest { Id = container.Branch.Id, Name = request.Name })),
            _ => Item(await containers.UpdateProjectGroupAsync(new UpdateProjectGroupRequest { Id = container.ProjectGroup.Id, Name = request.Name })),
        };
    }

    async Task<ContainerItem> RemoveAsync(ContainersRequest request, string? type, ServerCallContext context)
    {
        var container = await FindAsync(request, type, context);
        return container.KindCase switch
        {
            Container.KindOneofCase.Project => Item(await containers.DeleteProjectAsync(new DeleteProjectRequest { Id = container.Project.Id }), withSettings: true),
            Container.KindOneofCase.Branch => Item(await containers.DeleteBranchAsync(new DeleteBranchRequest { Id = container.Branch.Id })),
            _ => Item(await containers.DeleteProjectGroupAsync(new DeleteProjectGroupRequest { Id = container.ProjectGroup.Id })),
        };
    }

    /// <summary>The container an update or remove names by id, and by type too when one is given.</summary>
    async Task<Container> FindAsync(ContainersRequest request, string? type, ServerCallContext context)
    {
        if (request.Id.Length == 0)
            throw SvacerErrors.Bad("id is required");
        var container = await containers.GetContainerAsync(new GetContainerRequest { Id = ParseId(request.Id, "id", context) });
        var kind = KindOf(container);
        if (type is not null && type != kind)
            throw SvacerErrors.Raise(StatusCode.InvalidArgument, Reasons.ContainerTypeMismatch,
                $"container '{request.Id}' is a {kind}, not a {type}");
        return container;
    }

    static UpdateProjectRequest UpdateOf(V1Project project, ContainersRequest request)
    {
        var update = new UpdateProjectRequest { Id = project.Id, Name = request.Name };
        if (request.HasReviewWithComment)
            update.ReviewWithComment = request.ReviewWithComment;
        return update;
    }

    // ---- lookups and paging ----

    async Task<V1Project> ResolveProjectAsync(string nameOrId, ServerCallContext context)
    {
        if (Uuid(nameOrId) is { } id)
        {
            try
            {
                return await containers.GetProjectAsync(new GetProjectRequest { Id = id });
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
            {
                // Not an id after all: a project may be named like one.
            }
        }
        return await containers.GetProjectAsync(new GetProjectRequest { Name = nameOrId });
    }

    async Task<V1Group> ResolveGroupAsync(string nameOrId, ServerCallContext context)
    {
        if (Uuid(nameOrId) is { } id)
        {
            try
            {
                return await containers.GetProjectGroupAsync(new GetProjectGroupRequest { Id = id });
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
            {
            }
        }
        return await containers.GetProjectGroupAsync(new GetProjectGroupRequest { Name = nameOrId });
    }

    async Task<List<ContainerItem>> AllProjectsAsync(ListProjectsRequest request, ServerCallContext context)
    {
        var items = new List<ContainerItem>();
        request.PageSize = PageSize;
        do
        {
            var page = await containers.ListProjectsAsync(request);
            items.AddRange(page.Projects.Select(p => Item(p)));
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);
        return items;
    }

    async Task<List<ContainerItem>> AllGroupsAsync(ListProjectGroupsRequest request, ServerCallContext context)
    {
        var items = new List<ContainerItem>();
        request.PageSize = PageSize;
        do
        {
            var page = await containers.ListProjectGroupsAsync(request);
            items.AddRange(page.ProjectGroups.Select(Item));
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);
        return items;
    }

    async Task<List<ContainerItem>> AllBranchesAsync(ListBranchesRequest request, ServerCallContext context)
    {
        var items = new List<ContainerItem>();
        request.PageSize = PageSize;
        do
        {
            var page = await containers.ListBranchesAsync(request);
            items.AddRange(page.Branches.Select(Item));
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);
        return items;
    }

    async Task<List<ContainerItem>> AllSnapshotsAsync(string branchId, ServerCallContext context)
    {
        var items = new List<ContainerItem>();
        var request = new ListSnapshotsRequest { BranchId = branchId, PageSize = PageSize };
        do
        {
            var page = await containers.ListSnapshotsAsync(request);
            items.AddRange(page.Snapshots.Select(Item));
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);
        return items;
    }

    // ---- shapes ----

    static ContainersResponse One(ContainerItem item, string action)
    {
        item.Action = action;
        return new ContainersResponse { Containers = { item } };
    }

    /// <summary>A project; its setting only in the answers of add, update and remove (the list examples show none).</summary>
    static ContainerItem Item(V1Project project, bool withSettings = false)
    {
        var item = new ContainerItem { Id = project.Id, Name = project.Name, Type = TypeProject };
        if (withSettings)
            item.ReviewWithComment = project.ReviewWithComment;
        return item;
    }

    static ContainerItem Item(V1Group group) => new() { Id = group.Id, Name = group.Name, Type = TypeGroup };
    static ContainerItem Item(V1Branch branch) => new() { Id = branch.Id, Name = branch.Name, Type = TypeBranch, Parent = branch.ProjectId };
    static ContainerItem Item(V1Snapshot snapshot) => new() { Id = snapshot.Id, Name = snapshot.Name, Type = TypeSnapshot, Parent = snapshot.BranchId };

    static string KindOf(Container container) => container.KindCase switch
    {
        Container.KindOneofCase.Project => TypeProject,
        Container.KindOneofCase.Branch => TypeBranch,
        _ => TypeGroup,
    };

    static string? ParseType(string type, ServerCallContext context)
    {
        var value = type.Trim().ToLowerInvariant();
        return value switch
        {
            "" => null,
            TypeProject or TypeBranch or TypeGroup => value,
            _ => throw SvacerErrors.Bad($"unknown type '{Show(type)}'; allowed values: {AllowedTypes}"),
        };
    }

    static string ParseId(string value, string field, ServerCallContext context) =>
        Uuid(value) ?? throw SvacerErrors.Bad($"{field} must be a container id (a UUID), not '{Show(value)}'");

    static string Show(string value) => value.Length > 64 ? value[..64] + "..." : value;

    /// <summary>A Svacer id: a UUID in its canonical form (as the Containers service writes ids); null for anything else.</summary>
    static string? Uuid(string? value) =>
        value is { Length: 36 } && Guid.TryParseExact(value, "D", out var id) ? id.ToString("D") : null;
}
