using System.Globalization;
using BuildGrid.Core.Identity;
using BuildGrid.Gateway.Harbor.V1;
using BuildGrid.Registry.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Hv1 = BuildGrid.Gateway.Harbor.V1;
using Rv1 = BuildGrid.Registry.V1;

namespace BuildGrid.Gateway.Dialects.Harbor;

/// <summary>
/// The Harbor facade of seed 000 over the Registry service. Domain errors keep their HTTP status
/// (404 unknown, 400 invalid) and are written as {"code","msg"} by <see cref="HarborExtensions"/>.
/// </summary>
public sealed partial class HarborService(Registry.V1.Registry.RegistryClient registry) : Hv1.Harbor.HarborBase
{
    const int DefaultPageSize = 10;
    const int MaxPageSize = 100;
    /// <summary>Projects are clusters, a handful: listing walks at most this many pages of <see cref="MaxPageSize"/>.</summary>
    const int MaxProjectPages = 100;

    public override async Task<Hv1.ListProjectsResponse> ListProjects(Hv1.ListProjectsRequest request, ServerCallContext context)
    {
        var (page, size) = Paging(request.Page, request.PageSize.Length > 0 ? request.PageSize : request.Pagesize);
        var publicOnly = request.IsPublic.Length > 0 && (int.TryParse(request.IsPublic, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var flag)
            ? flag == 1 : throw Bad($"is_public must be an integer, not '{request.IsPublic}'"));
        var all = (await ProjectsAsync(request.ProjectName, context)).Where(n => !publicOnly || n.Public).ToList();
        var response = new Hv1.ListProjectsResponse();
        var caller = Access.PrincipalOf(context);
        response.Items.AddRange(all.Skip((page - 1) * size).Take(size).Select(n => new HarborProject
        {
            Togglable = true, CreationTime = Time(n.CreateTime), CreationTimeStr = "", CurrentUserRoleId = HarborRoleId(caller, n.Name), Deleted = 0,
            Name = n.Name, OwnerId = 1, OwnerName = "", ProjectId = n.Id, Public = n.Public ? 1 : 0, RepoCount = n.RepositoryCount,
            UpdateTime = Time(n.UpdateTime),
        }));
        Pagination(context, all.Count, page, size);
        return response;
    }

    /// <summary>
    /// The caller's role in a project as Harbor numbers it: 1 project admin (an owner, or a system admin), 2 developer,
    /// 3 guest; 0 when it holds none (an anonymous caller on a public project), as Harbor answers it.
    /// </summary>
    internal static int HarborRoleId(Principal caller, string project) => caller.RoleIn(project) switch
    {
        Role.Owner => 1,
        Role.Developer => 2,
        Role.Guest => 3,
        _ => 0,
    };

    public override async Task<Hv1.ListRepositoriesResponse> ListRepositories(Hv1.ListRepositoriesRequest request, ServerCallContext context)
    {
        var (page, size) = Paging(request.Page, request.PageSize);
        // Harbor answers a missing, unreadable or non-positive project_id with 400 "invalid project_id".
        if (!long.TryParse(request.ProjectId, NumberStyles.None, CultureInfo.InvariantCulture, out var projectId) || projectId <= 0)
            throw Bad("invalid project_id");
        var prefix = await ClusterAsync(request.ProjectId, context) + "/";
        long total = 0;
        var (names, _) = await PageAsync(page, size, async token =>
        {
            var result = await registry.ListRepositoriesAsync(new Rv1.ListRepositoriesRequest
            {
                PageSize = size, PageToken = token, NamePrefix = prefix, NameContains = request.Q,
            });
            total = result.TotalSize;
            return (result.Repositories.Select(r => r.Name), result.NextPageToken);
        });
        var response = new Hv1.ListRepositoriesResponse();
        response.Items.AddRange(names.Select(n => new NameItem { Name = n }));
        Pagination(context, total, page, size);
        return response;
    }

    public override async Task<Hv1.ListTagsResponse> ListTags(Hv1.ListTagsRequest request, ServerCallContext context)
    {
        MergeBody(request, request.Body);
        var (page, size) = Paging(request.Page, request.PageSize.Length > 0 ? request.PageSize : request.Pagesize);
        var cluster = request.RepoName.Length == 0 || request.RepoName.Contains('/') ? null : await ClusterAsync(request.ProjectId, context);
        var repository = Repository(request.RepoName, "repo_name", cluster);
        List<string> names;
        bool more;
        try
        {
            (names, more) = await PageAsync(page, size, async token =>
            {
                var result = await registry.ListTagsAsync(new Rv1.ListTagsRequest { Repository = repository, PageSize = size, PageToken = token });
                return (result.Tags.Select(t => t.Name), result.NextPageToken);
            });
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            // Harbor lists no tags for a repository its registry does not know, once the project exists.
            await RequireProjectAsync(repository, context);
            (names, more) = ([], false);
        }
        var response = new Hv1.ListTagsResponse();
        response.Items.AddRange(names.Select(n => new NameItem { Name = n }));
        if (more)
            NextLink(context, page);
        return response;
    }

    public override async Task<ManifestResponse> GetManifest(Hv1.GetManifestRequest request, ServerCallContext context)
    {
        MergeBody(request, request.Body);
        var repository = Repository(request.RepoName, "repo_name");
        if (request.Tag.Length == 0)
            throw Bad("tag is required");
        if (request.Version.Length > 0 && request.Version is not ("v1" or "v2"))
            throw Bad("version should be v1 or v2");
        var manifest = await registry.GetManifestAsync(new Rv1.GetManifestRequest { Repository = repository, Reference = request.Tag, IncludeConfig = true });
        return new ManifestResponse
        {
            Config = manifest.Config.ToStringUtf8(),
            Manifest = Value.Parser.ParseJson(manifest.Content.ToStringUtf8()),
        };
    }

    public override async Task<CodeResponse> DeleteTag(Hv1.DeleteTagRequest request, ServerCallContext context)
    {
        MergeBody(request, request.Body);
        var http = context.GetHttpContext();
        if (HttpMethods.IsPost(http.Request.Method) && !string.Equals(request.Method, "DELETE", StringComparison.OrdinalIgnoreCase))
            throw DialectErrors.Raise(StatusCode.Unimplemented, "METHOD_NOT_ALLOWED", "POST /repositories deletes a tag only with method=DELETE");
        string repository;
        List<string> tags;
        if (request.ProjectName.Length == 0 && http.Request.Query.TryGetValue("repo_name", out var repoName))
        {
            // Harbor's own form: ?repo_name=<repository>&tag=<tag>; without a tag, every tag of the repository.
            repository = Repository(repoName.ToString(), "repo_name");
            var tag = http.Request.Query["tag"].ToString();
            tags = tag.Length > 0 ? [tag] : await AllTagsAsync(repository, context);
        }
        else
        {
            if (request.RepoName.Length == 0)
                throw Bad("repoName (the tag) is required");
            repository = Repository(request.ProjectName, "projectName");
            tags = [request.RepoName];
        }
        foreach (var tag in tags)
        {
            try
            {
                await registry.DeleteTagAsync(new Rv1.DeleteTagRequest { Repository = repository, Tag = tag, Operator = Access.Operator(context, null) });
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
            {
                // Harbor skips a tag its registry no longer has: deleting a tag twice succeeds, in a project that exists.
                await RequireProjectAsync(repository, context);
            }
        }
        return new CodeResponse { Code = 0, Msg = "" };
    }

    /// <summary>Every tag of a repository; Harbor answers 404 when it has none.</summary>
    async Task<List<string>> AllTagsAsync(string repository, ServerCallContext context)
    {
        try
        {
            var result = await registry.ListTagsAsync(new Rv1.ListTagsRequest { Repository = repository });
            if (result.Tags.Count > 0)
                return result.Tags.Select(t => t.Name).ToList();
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            await RequireProjectAsync(repository, context);
        }
        throw DialectErrors.Raise(StatusCode.NotFound, "NOT_FOUND", $"repository {repository} has no tags");
    }

    /// <summary>Every project (cluster) the caller sees whose name holds <paramref name="nameContains"/>, ordered by name as Harbor orders them.</summary>
    internal async Task<List<Namespace>> ProjectsAsync(string nameContains, ServerCallContext context)
    {
        var all = new List<Namespace>();
        for (var page = 1; page <= MaxProjectPages; page++)
        {
            var result = await registry.ListNamespacesAsync(new ListNamespacesRequest { Page = page, PageSize = MaxPageSize, NameContains = nameContains });
            all.AddRange(result.Namespaces);
            if (result.Namespaces.Count < MaxPageSize || all.Count >= result.TotalSize)
                break;
        }
        return all.OrderBy(n => n.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>The project (cluster) of that exact name, or null when the caller sees none.</summary>
    internal async Task<Namespace?> ProjectAsync(string name, ServerCallContext context) =>
        name.Length == 0 ? null : (await ProjectsAsync(name, context)).FirstOrDefault(n => n.Name == name);

    /// <summary>Harbor's 404 "project X not found" for a repository whose project does not exist.</summary>
    async Task RequireProjectAsync(string repository, ServerCallContext context)
    {
        var project = repository.Split('/')[0];
        if (await ProjectAsync(project, context) is null)
            throw DialectErrors.Raise(StatusCode.NotFound, "NOT_FOUND", $"project {project} not found");
    }

    /// <summary>
    /// The document's examples name repositories without their cluster ("myweb"): those are in <paramref name="cluster"/>
    /// (the project_id's, where the call has one), else in default_cluster.
    /// </summary>
    static string Repository(string name, string field, string? cluster = null)
    {
        if (name.Length == 0)
            throw Bad($"{field} is required");
        return name.Contains('/') ? name : $"{cluster ?? "default_cluster"}/{name}";
    }

    /// <summary>The cluster a project_id names (a Harbor project is a cluster); null when the call names none.</summary>
    async Task<string?> ClusterAsync(string projectId, ServerCallContext context)
    {
        if (projectId.Length == 0 || projectId == "0")
            return null;
        if (!long.TryParse(projectId, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            throw Bad("project_id must be a number");
        return (await registry.GetNamespaceAsync(new GetNamespaceRequest { Id = id })).Name;
    }

    static (int Page, int Size) Paging(string page, string pageSize)
    {
        static int Parse(string text, string name, int fallback) =>
            text.Length == 0 ? fallback
            : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= 1 ? value
            : throw Bad($"{name} must be a positive integer, not '{text}'");
        return (Parse(page, "page", 1), Math.Min(Parse(pageSize, "page_size", DefaultPageSize), MaxPageSize));
    }

    /// <summary>Page N of a token-paged list, and whether pages follow: walks the tokens (Harbor clients ask for early pages).</summary>
    internal static async Task<(List<T> Items, bool More)> PageAsync<T>(int page, int size, Func<string, Task<(IEnumerable<T> Items, string Next)>> fetch)
    {
        var token = "";
        for (var i = 1; ; i++)
        {
            var (items, next) = await fetch(token);
            if (i == page)
                return (items.ToList(), next.Length > 0);
            if (next.Length == 0)
                return ([], false);
            token = next;
        }
    }

    static RpcException Bad(string message) => DialectErrors.Raise(StatusCode.InvalidArgument, Core.Errors.Reasons.InvalidArgument, message);

    /// <summary>
    /// Harbor's paging headers on its lists: X-Total-Count, how many items all pages hold, and Link with rel="prev"
    /// and rel="next" (the request's path and query with page changed), as Harbor's SetPaginationHeader writes them.
    /// </summary>
    internal static void Pagination(ServerCallContext context, long total, long page, long size)
    {
        context.GetHttpContext().Response.Headers["X-Total-Count"] = total.ToString(CultureInfo.InvariantCulture);
        var links = new List<string>();
        if (page > 1 && (page - 1) * size <= total)
            links.Add(PageLink(context, page - 1, "prev"));
        if (page * size < total)
            links.Add(PageLink(context, page + 1, "next"));
        if (links.Count > 0)
            context.GetHttpContext().Response.Headers.Link = string.Join(", ", links);
    }

    /// <summary>The Link header of a list whose total is unknown (tags): rel="next" while pages follow.</summary>
    static void NextLink(ServerCallContext context, long page) =>
        context.GetHttpContext().Response.Headers.Link = PageLink(context, page + 1, "next");

    static string PageLink(ServerCallContext context, long page, string rel)
    {
        var request = context.GetHttpContext().Request;
        var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(request.QueryString.Value);
        query["page"] = page.ToString(CultureInfo.InvariantCulture);
        // Keys in byte order and values escaped, as Go's url.Values.Encode writes them.
        var url = Microsoft.AspNetCore.WebUtilities.QueryHelpers.AddQueryString(request.PathBase + request.Path, query.OrderBy(p => p.Key, StringComparer.Ordinal));
        return $"<{url}>; rel=\"{rel}\"";
    }

    /// <summary>A body that cannot be read (not JSON, wrong types, too large) is the caller's mistake: 400, not 500.</summary>
    static void MergeBody(Google.Protobuf.IMessage request, Google.Api.HttpBody? body)
    {
        try
        {
            LenientBody.MergeInto(request, body);
        }
        catch (BadBodyException e)
        {
            throw Bad(e.Message);
        }
    }


    static string Time(Timestamp? time) =>
        time is null ? "" : time.ToDateTimeOffset().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
