using BuildGrid.Core.Errors;
using BuildGrid.Core.Identity;
using BuildGrid.Core.Networking;
using BuildGrid.Projects.Domain;
using BuildGrid.Projects.Domain.Plugins;
using BuildGrid.Projects.Storage;
using BuildGrid.Projects.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace BuildGrid.Projects.Grpc;

/// <summary>
/// The Projects gRPC API: validates, then calls the store. The rules live in <see cref="ProjectRules"/>.
/// Access: a project lives in its cluster (a namespace); reading it needs guest there, creating, saving and cloning
/// developer, deleting owner. Lists show the projects of the clusters the caller may read.
/// </summary>
public sealed class ProjectsService(ProjectStore store, PluginRegistry plugins, DockerfileRenderer renderer, ContextArchives archives,
    [FromKeyedServices(ProjectsOptions.Downloads)] NetworkPolicy downloads, TimeProvider time)
    : V1.Projects.ProjectsBase
{
    const int DefaultPageSize = 10;
    const int MaxPageSize = 100;

    public override async Task<Project> CreateProject(CreateProjectRequest request, ServerCallContext context)
    {
        ProjectRules.ValidateName(request.Name, "name");
        var cluster = ClusterOrDefault(request.Cluster);
        Access.Require(context, cluster, Role.Developer);
        var @operator = OperatorOf(request.Operator, context);
        var now = Timestamp.FromDateTimeOffset(time.GetUtcNow());
        return await store.InsertAsync(new Project
        {
            Name = request.Name, Cluster = cluster, DockerfileType = DockerfileType.Plugin, Creator = @operator,
            CreateTime = now, UpdateTime = now, UpdateOperator = @operator, Version = 1,
        }, clonedFrom: null, context.CancellationToken);
    }

    public override async Task<Project> GetProject(GetProjectRequest request, ServerCallContext context)
    {
        ProjectRules.ValidateName(request.Name, "name");
        var project = await store.FindAsync(request.Name, context.CancellationToken)
            ?? throw Missing(request.Name);
        Access.RequireVisible(context, project.Cluster, Role.Guest, () => Missing(request.Name));
        if (project.BuildContext is { ArchiveDigest.Length: > 0 } buildContext)
            buildContext.ArchiveCheckout = archives.CheckoutPath(buildContext.ArchiveDigest);
        return project;
    }

    public override async Task<ListProjectsResponse> ListProjects(ListProjectsRequest request, ServerCallContext context)
    {
        if (request.Page < 0)
            throw Errors.Invalid(Reasons.InvalidArgument, "page", "page must be 1 or more");
        if (request.PageSize < 0)
            throw Errors.Invalid(Reasons.InvalidArgument, "page_size", "page_size must be 1 or more");
        if (request.NameContains.Length > ProjectRules.MaxNameLength)
            throw Errors.Invalid(Reasons.InvalidArgument, "name_contains", $"name_contains is longer than {ProjectRules.MaxNameLength} characters");
        var page = Math.Max(request.Page, 1);
        var size = request.PageSize == 0 ? DefaultPageSize : Math.Min(request.PageSize, MaxPageSize);
        var offset = (long)(page - 1) * size;
        if (offset > int.MaxValue)
            throw Errors.Invalid(Reasons.InvalidArgument, "page", "page is too large");
        var (projects, total) = await store.ListAsync((int)offset, size, request.NameContains,
            Access.PrincipalOf(context).Where(Role.Guest), context.CancellationToken);
        return new ListProjectsResponse { Projects = { projects }, Page = page, PageSize = size, TotalCount = total };
    }

    public override async Task<Project> SaveProject(SaveProjectRequest request, ServerCallContext context)
    {
        ProjectRules.ValidateName(request.Name, "name");
        var @operator = OperatorOf(request.Operator, context);
        var cluster = string.IsNullOrEmpty(request.Cluster) ? null : ClusterOrDefault(request.Cluster);
        if (cluster is not null || request.Mode == SaveProjectRequest.Types.Mode.Add)
            Access.Require(context, cluster ?? ProjectRules.DefaultCluster, Role.Developer);
        if (request.Dockerfile.Length > ProjectRules.MaxDockerfileLength)
            throw Errors.Invalid(Reasons.InvalidArgument, "dockerfile", $"dockerfile is longer than {ProjectRules.MaxDockerfileLength} characters");
        if (request.Dockerfile.Contains('\0'))
            throw Errors.Invalid(Reasons.InvalidArgument, "dockerfile", "dockerfile contains a NUL character");
        var buildContext = request.BuildContext is null ? null : ValidateBuildContext(request.BuildContext);
        var type = request.DockerfileType != DockerfileType.Unspecified ? request.DockerfileType
            : request.Plugins.Count > 0 ? DockerfileType.Plugin : DockerfileType.Define;
        var now = Timestamp.FromDateTimeOffset(time.GetUtcNow());

        switch (request.Mode)
        {
            case SaveProjectRequest.Types.Mode.Add:
                renderer.Validate(request.Plugins, buildContext is not null);
                return await store.InsertAsync(new Project
                {
                    Name = request.Name, Cluster = cluster ?? ProjectRules.DefaultCluster, DockerfileType = type, Dockerfile = request.Dockerfile,
                    Plugins = { request.Plugins }, Creator = @operator, CreateTime = now, UpdateTime = now, UpdateOperator = @operator, Version = 1,
                    BuildContext = buildContext,
                }, clonedFrom: null, context.CancellationToken);
            case SaveProjectRequest.Types.Mode.Update:
                return await store.UpdateAsync(request.Name, request.ExpectedVersion, project =>
                {
                    Access.RequireVisible(context, project.Cluster, Role.Developer, () => Missing(request.Name));
                    var effective = request.BuildContext is null ? project.BuildContext : buildContext;
                    renderer.Validate(request.Plugins, effective is not null);
                    project.BuildContext = effective;
                    project.Cluster = cluster ?? project.Cluster;
                    project.DockerfileType = type;
                    project.Dockerfile = request.Dockerfile;
                    project.Plugins.Clear();
                    project.Plugins.Add(request.Plugins);
                    project.UpdateTime = now;
                    project.UpdateOperator = @operator;
                }, context.CancellationToken);
            default:
                throw Errors.Invalid(Reasons.InvalidArgument, "mode", "mode must be MODE_ADD or MODE_UPDATE");
        }
    }

    /// <summary>An uploaded archive becomes the project's build context (replacing a git one).</summary>
    public override async Task<Project> UploadBuildContext(UploadBuildContextRequest request, ServerCallContext context)
    {
        ProjectRules.ValidateName(request.Name, "name");
        var @operator = OperatorOf(request.Operator, context);
        var existing = await store.FindAsync(request.Name, context.CancellationToken)
            ?? throw Missing(request.Name);
        Access.RequireVisible(context, existing.Cluster, Role.Developer, () => Missing(request.Name));
        var digest = await archives.StoreAsync(request.Archive.ToByteArray(), context.CancellationToken);
        var now = Timestamp.FromDateTimeOffset(time.GetUtcNow());
        var saved = await store.UpdateAsync(request.Name, 0, project =>
        {
            Access.Require(context, project.Cluster, Role.Developer);
            project.BuildContext = new BuildContext { ArchiveDigest = digest };
            project.UpdateTime = now;
            project.UpdateOperator = @operator;
        }, context.CancellationToken);
        saved.BuildContext.ArchiveCheckout = archives.CheckoutPath(digest);
        return saved;
    }

    /// <summary>A saved context: an empty message means none; a git URL must be a remote one; an archive must have been uploaded.</summary>
    BuildContext? ValidateBuildContext(BuildContext requested)
    {
        var url = requested.GitUrl.Trim();
        var gitRef = requested.GitRef.Trim();
        var digest = requested.ArchiveDigest.Trim();
        if (url.Length == 0 && gitRef.Length == 0 && digest.Length == 0)
            return null;
        if (url.Length > 0 && digest.Length > 0)
            throw Errors.Invalid(Reasons.InvalidArgument, "build_context", "a build context is a git repository or an uploaded archive, not both");
        if (digest.Length > 0)
        {
            if (!System.Text.RegularExpressions.Regex.IsMatch(digest, "^sha256:[0-9a-f]{64}$") || !Directory.Exists(archives.CheckoutPath(digest)))
                throw Errors.Invalid(Reasons.InvalidArgument, "build_context.archive_digest",
                    $"'{Errors.Shorten(digest)}' names no uploaded archive; upload one with UploadBuildContext (POST /buildgrid/v1/projects/{{name}}/context)");
            return new BuildContext { ArchiveDigest = digest };
        }
        if (ProjectRules.GitUrlProblem(url) is { } problem)
            throw Errors.Invalid(Reasons.InvalidArgument, "build_context.git_url", problem);
        // The worker clones on the host's network, so the URL is held to the download policy (checked again, after DNS,
        // when a build renders the project).
        if (ProjectRules.GitRemote(url) is { } remote && downloads.CheckLiteral(remote) is { } refusal)
            throw Errors.Invalid(Reasons.InvalidArgument, "build_context.git_url", $"git_url's host {remote.IdnHost} is refused: {refusal}");
        if (gitRef.Length > 0 && ProjectRules.GitRefProblem(gitRef) is { } refProblem)
            throw Errors.Invalid(Reasons.InvalidArgument, "build_context.git_ref", refProblem);
        return new BuildContext { GitUrl = url, GitRef = gitRef };
    }

    public override async Task<Project> CloneProject(CloneProjectRequest request, ServerCallContext context)
    {
        ProjectRules.ValidateName(request.SourceName, "source_name");
        ProjectRules.ValidateName(request.TargetName, "target_name");
        var @operator = OperatorOf(request.Operator, context);
        var source = await store.FindAsync(request.SourceName, context.CancellationToken)
            ?? throw Missing(request.SourceName);
        // The clone stays in the source's cluster.
        Access.RequireVisible(context, source.Cluster, Role.Developer, () => Missing(request.SourceName));
        var now = Timestamp.FromDateTimeOffset(time.GetUtcNow());
        var clone = source.Clone();
        clone.Name = request.TargetName;
        clone.Creator = @operator;
        clone.CreateTime = now;
        clone.UpdateTime = now;
        clone.UpdateOperator = @operator;
        clone.Version = 1;
        clone.LastBuild = null;
        return await store.InsertAsync(clone, clonedFrom: source.Name, context.CancellationToken);
    }

    public override async Task<Empty> DeleteProject(DeleteProjectRequest request, ServerCallContext context)
    {
        ProjectRules.ValidateName(request.Name, "name");
        var @operator = OperatorOf(request.Operator, context);
        if (await store.FindAsync(request.Name, context.CancellationToken) is { } project)
            Access.RequireVisible(context, project.Cluster, Role.Owner, () => Missing(request.Name));
        await store.DeleteAsync(request.Name, @operator, context.CancellationToken);
        return new Empty();
    }

    public override async Task<RenderDockerfileResponse> RenderDockerfile(RenderDockerfileRequest request, ServerCallContext context)
    {
        var project = await GetProject(new GetProjectRequest { Name = request.Name }, context);
        return new RenderDockerfileResponse { Dockerfile = await renderer.RenderAsync(project, context.CancellationToken) };
    }

    /// <summary>
    /// A project that does not exist — and one the caller may not read, answered alike (as Quay, Harbor and /v2/ answer a
    /// private repository), so that no caller learns which projects exist in clusters it has no role in.
    /// </summary>
    static RpcException Missing(string name) => Errors.NotFound(Reasons.ProjectNotFound, "project", name);

    public override Task<ListPluginsResponse> ListPlugins(ListPluginsRequest request, ServerCallContext context) =>
        Task.FromResult(new ListPluginsResponse { Plugins = { plugins.All.Select(PluginRegistry.Describe) } });

    public override Task<InvokePluginResponse> InvokePlugin(InvokePluginRequest request, ServerCallContext context) =>
        Task.FromResult(new InvokePluginResponse { Result = plugins.Invoke(request.Plugin, request.Method, request.Parameters) });

    /// <summary>The authenticated caller (the body's operator counts only for the protected-mode caller), validated.</summary>
    static string OperatorOf(string requested, ServerCallContext context) =>
        ProjectRules.NormalizeOperator(Access.Operator(context, ProjectRules.NormalizeOperator(requested, null)), null);

    static string ClusterOrDefault(string? cluster)
    {
        if (string.IsNullOrEmpty(cluster))
            return ProjectRules.DefaultCluster;
        ProjectRules.ValidateName(cluster, "cluster");
        return cluster;
    }
}
