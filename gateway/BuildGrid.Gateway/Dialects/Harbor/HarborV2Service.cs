using System.Globalization;
using BuildGrid.Core.Identity;
using BuildGrid.Gateway.Harbor.V1;
using BuildGrid.Registry.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Rv1 = BuildGrid.Registry.V1;

namespace BuildGrid.Gateway.Dialects.Harbor;

/// <summary>
/// The read and delete calls of Harbor's current API (/api/v2.0) over the Registry service, so that scripts written for
/// today's Harbor work: projects, a project's repositories, a repository's artifacts (a manifest with the tags on it).
/// </summary>
public sealed partial class HarborService
{
    public override async Task<ListProjectsV2Response> ListProjectsV2(ListProjectsV2Request request, ServerCallContext context)
    {
        var (page, size) = PagingV2(request.Page, request.PageSize);
        var all = (await ProjectsAsync(request.Name, context))
            .Where(n => (request.Name.Length == 0 || n.Name == request.Name) && (!request.HasPublic || n.Public == request.Public)).ToList();
        var response = new ListProjectsV2Response();
        response.Items.AddRange(all.Skip((page - 1) * size).Take(size).Select(n => ProjectV2Of(n, context)));
        Pagination(context, all.Count, page, size);
        return response;
    }

    public override async Task<ProjectV2> GetProjectV2(ProjectV2Ref request, ServerCallContext context) =>
        ProjectV2Of(await RequireProjectV2Async(request.ProjectName, context), context);

    public override async Task<ListRepositoriesV2Response> ListRepositoriesV2(ListRepositoriesV2Request request, ServerCallContext context)
    {
        var (page, size) = PagingV2(request.Page, request.PageSize);
        var project = await RequireProjectV2Async(request.ProjectName, context);
        var (contains, exact) = NameQuery(request.Q);
        long total = 0;
        var (repositories, _) = await PageAsync(page, size, async token =>
        {
            var result = await registry.ListRepositoriesAsync(new Rv1.ListRepositoriesRequest
            {
                PageSize = size, PageToken = token, NamePrefix = project.Name + "/", NameContains = exact ?? contains,
            });
            total = result.TotalSize;
            return (result.Repositories.AsEnumerable(), result.NextPageToken);
        });
        if (exact is not null)
        {
            repositories = repositories.Where(r => r.Name == exact).ToList();
            total = repositories.Count;
        }
        var response = new ListRepositoriesV2Response();
        response.Items.AddRange(repositories.Select(r => RepositoryV2Of(r, project)));
        Pagination(context, total, page, size);
        return response;
    }

    public override async Task<RepositoryV2> GetRepositoryV2(RepositoryV2Ref request, ServerCallContext context)
    {
        var project = await RequireProjectV2Async(request.ProjectName, context);
        var repository = await registry.GetRepositoryAsync(new GetRepositoryRequest { Name = RepositoryV2Name(project, request.RepositoryName) });
        return RepositoryV2Of(repository, project);
    }

    public override async Task<Empty> DeleteRepositoryV2(RepositoryV2Ref request, ServerCallContext context)
    {
        var project = await RequireProjectV2Async(request.ProjectName, context);
        await registry.DeleteRepositoryAsync(new DeleteRepositoryRequest { Name = RepositoryV2Name(project, request.RepositoryName), Operator = Access.Operator(context, null) });
        return new Empty();
    }

    public override async Task<ListArtifactsV2Response> ListArtifactsV2(ListArtifactsV2Request request, ServerCallContext context)
    {
        var (page, size) = PagingV2(request.Page, request.PageSize);
        var project = await RequireProjectV2Async(request.ProjectName, context);
        var artifacts = await ArtifactsAsync(project, RepositoryV2Name(project, request.RepositoryName), context);
        var response = new ListArtifactsV2Response();
        foreach (var artifact in artifacts.Skip((page - 1) * size).Take(size))
        {
            if (request.HasWithTag && !request.WithTag)
                artifact.Tags.Clear();
            response.Items.Add(artifact);
        }
        Pagination(context, artifacts.Count, page, size);
        return response;
    }

    public override async Task<ArtifactV2> GetArtifactV2(ArtifactV2Ref request, ServerCallContext context) =>
        await ArtifactAsync(request.ProjectName, request.RepositoryName, request.Reference, context);

    public override async Task<Empty> DeleteArtifactV2(ArtifactV2Ref request, ServerCallContext context)
    {
        var artifact = await ArtifactAsync(request.ProjectName, request.RepositoryName, request.Reference, context);
        foreach (var tag in artifact.Tags)
            await registry.DeleteTagAsync(new Rv1.DeleteTagRequest { Repository = artifact.RepositoryName, Tag = tag.Name, Operator = Access.Operator(context, null) });
        return new Empty();
    }

    public override async Task<ListTagsV2Response> ListArtifactTagsV2(ArtifactV2Ref request, ServerCallContext context)
    {
        var artifact = await ArtifactAsync(request.ProjectName, request.RepositoryName, request.Reference, context);
        return new ListTagsV2Response { Items = { artifact.Tags } };
    }

    public override async Task<Empty> DeleteArtifactTagV2(ArtifactTagV2Ref request, ServerCallContext context)
    {
        var artifact = await ArtifactAsync(request.ProjectName, request.RepositoryName, request.Reference, context);
        if (artifact.Tags.All(t => t.Name != request.TagName))
            throw DialectErrors.Raise(StatusCode.NotFound, "NOT_FOUND", $"tag {request.TagName} not found on artifact {request.Reference}");
        await registry.DeleteTagAsync(new Rv1.DeleteTagRequest { Repository = artifact.RepositoryName, Tag = request.TagName, Operator = Access.Operator(context, null) });
        return new Empty();
    }

    /// <summary>The artifact a tag or digest names, with its tags.</summary>
    async Task<ArtifactV2> ArtifactAsync(string projectName, string repositoryName, string reference, ServerCallContext context)
    {
        var project = await RequireProjectV2Async(projectName, context);
        var repository = RepositoryV2Name(project, repositoryName);
        var artifacts = await ArtifactsAsync(project, repository, context);
        var found = reference.Contains(':')
            ? artifacts.FirstOrDefault(a => a.Digest == reference)
            : artifacts.FirstOrDefault(a => a.Tags.Any(t => t.Name == reference));
        if (found is not null)
            return found;
        // An untagged manifest: Harbor lists it too, without tags.
        var manifest = await registry.GetManifestAsync(new Rv1.GetManifestRequest { Repository = repository, Reference = reference });
        return new ArtifactV2
        {
            Id = StableId(manifest.Digest), Type = "IMAGE", MediaType = manifest.ConfigDescriptor?.MediaType ?? manifest.MediaType, ManifestMediaType = manifest.MediaType,
            ProjectId = project.Id, RepositoryId = StableId(repository), RepositoryName = repository, Digest = manifest.Digest, Size = manifest.Size,
        };
    }

    /// <summary>
    /// A repository's tagged artifacts, newest push first as Harbor sorts them: each manifest once, with the tags that
    /// point at it (oldest tag first).
    /// </summary>
    async Task<List<ArtifactV2>> ArtifactsAsync(Namespace project, string repository, ServerCallContext context)
    {
        var tags = (await registry.ListTagsAsync(new Rv1.ListTagsRequest { Repository = repository })).Tags;
        var repositoryId = StableId(repository);
        return tags.GroupBy(t => t.Digest).Select(group =>
        {
            var first = group.First();
            var pushed = group.Max(t => t.UpdateTime?.ToDateTimeOffset() ?? DateTimeOffset.MinValue);
            var artifact = new ArtifactV2
            {
                Id = StableId(group.Key), Type = "IMAGE", MediaType = first.MediaType, ManifestMediaType = first.MediaType, ProjectId = project.Id,
                RepositoryId = repositoryId, RepositoryName = repository, Digest = group.Key, Size = first.Size, PushTime = TimeV2(pushed), PullTime = "0001-01-01T00:00:00.000Z",
            };
            artifact.Tags.AddRange(group.OrderBy(t => t.UpdateTime?.ToDateTimeOffset()).Select(t => new TagV2
            {
                Id = StableId(repository + ":" + t.Name), RepositoryId = repositoryId, ArtifactId = artifact.Id, Name = t.Name,
                PushTime = TimeV2(t.UpdateTime?.ToDateTimeOffset()), PullTime = "0001-01-01T00:00:00.000Z",
            }));
            return (artifact, pushed);
        }).OrderByDescending(a => a.pushed).Select(a => a.artifact).ToList();
    }

    async Task<Namespace> RequireProjectV2Async(string name, ServerCallContext context) =>
        await ProjectAsync(name, context) ?? throw DialectErrors.Raise(StatusCode.NotFound, "NOT_FOUND", $"project {name} not found");

    /// <summary>
    /// The full name of the repository a v2.0 path names: the part after the project, whose slashes Harbor asks to be
    /// encoded twice ("a%252Fb", which routing decodes once to "a%2Fb").
    /// </summary>
    static string RepositoryV2Name(Namespace project, string name)
    {
        var decoded = Uri.UnescapeDataString(name);
        if (decoded.Length == 0)
            throw Bad("repository_name is required");
        return $"{project.Name}/{decoded}";
    }

    /// <summary>Harbor's q for repositories: "name=~part" matches a substring, "name=full" the whole name.</summary>
    static (string Contains, string? Exact) NameQuery(string q)
    {
        if (q.Length == 0)
            return ("", null);
        if (q.StartsWith("name=~", StringComparison.Ordinal))
            return (q["name=~".Length..], null);
        if (q.StartsWith("name=", StringComparison.Ordinal))
            return ("", q["name=".Length..]);
        throw Bad($"invalid query: {q}");
    }

    static (int Page, int Size) PagingV2(int page, int size)
    {
        if (page < 0 || size < 0)
            throw Bad(page < 0 ? "page must be 1 or more" : "page_size must be 1 or more");
        return (page == 0 ? 1 : page, size == 0 ? DefaultPageSize : Math.Min(size, MaxPageSize));
    }

    static ProjectV2 ProjectV2Of(Namespace n, ServerCallContext context)
    {
        var role = HarborRoleId(Access.PrincipalOf(context), n.Name);
        var project = new ProjectV2
        {
            ProjectId = n.Id, Name = n.Name, OwnerId = 1, OwnerName = "admin", CreationTime = TimeV2(n.CreateTime?.ToDateTimeOffset()),
            UpdateTime = TimeV2(n.UpdateTime?.ToDateTimeOffset()), RepoCount = n.RepositoryCount, CurrentUserRoleId = role,
            Metadata = new ProjectV2Metadata { Public = n.Public ? "true" : "false" },
        };
        if (role != 0)
            project.CurrentUserRoleIds.Add(role);
        return project;
    }

    static RepositoryV2 RepositoryV2Of(Rv1.Repository r, Namespace project) => new()
    {
        Id = StableId(r.Name), ProjectId = project.Id, Name = r.Name, Description = r.HasDescription ? r.Description : "", ArtifactCount = r.ManifestCount,
        CreationTime = TimeV2(r.CreateTime?.ToDateTimeOffset()), UpdateTime = TimeV2(r.UpdateTime?.ToDateTimeOffset()),
    };

    /// <summary>A positive id derived from a name: the Registry service keys repositories and manifests by name and digest.</summary>
    static long StableId(string key) =>
        (long)(BitConverter.ToUInt64(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)), 0) >> 12);

    /// <summary>Harbor 2's times: RFC 3339 with milliseconds, UTC.</summary>
    static string TimeV2(DateTimeOffset? time) =>
        (time ?? DateTimeOffset.MinValue).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
