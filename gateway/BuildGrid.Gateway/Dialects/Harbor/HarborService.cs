using System.Globalization;
using BuildGrid.Core.Clients;
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
public sealed class HarborService(Registry.V1.Registry.RegistryClient registry) : Hv1.Harbor.HarborBase
{
    const int DefaultPageSize = 10;
    const int MaxPageSize = 100;

    public override async Task<Hv1.ListProjectsResponse> ListProjects(Hv1.ListProjectsRequest request, ServerCallContext context)
    {
        var (page, size) = Paging(request.Page, request.PageSize.Length > 0 ? request.PageSize : request.Pagesize);
        var result = await registry.ListNamespacesAsync(new ListNamespacesRequest { Page = page, PageSize = size, NameContains = request.ProjectName }, Caller.Options(context));
        var response = new Hv1.ListProjectsResponse();
        var caller = Access.PrincipalOf(context);
        response.Items.AddRange(result.Namespaces.Select(n => new HarborProject
        {
            Togglable = true, CreationTime = Time(n.CreateTime), CreationTimeStr = "", CurrentUserRoleId = HarborRoleId(caller, n.Name), Deleted = 0,
            Name = n.Name, OwnerId = 1, OwnerName = "", ProjectId = n.Id, Public = n.Public ? 1 : 0, RepoCount = n.RepositoryCount,
            UpdateTime = Time(n.UpdateTime),
        }));
        TotalCount(context, result.TotalSize);
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
        var prefix = await ClusterAsync(request.ProjectId, context) is { } cluster ? cluster + "/" : "";
        long total = 0;
        var names = await PageAsync(page, size, async token =>
        {
            var result = await registry.ListRepositoriesAsync(new Rv1.ListRepositoriesRequest
            {
                PageSize = size, PageToken = token, NamePrefix = prefix, NameContains = request.Q,
            }, Caller.Options(context));
            total = result.TotalSize;
            return (result.Repositories.Select(r => r.Name), result.NextPageToken);
        });
        var response = new Hv1.ListRepositoriesResponse();
        response.Items.AddRange(names.Select(n => new NameItem { Name = n }));
        TotalCount(context, total);
        return response;
    }

    public override async Task<Hv1.ListTagsResponse> ListTags(Hv1.ListTagsRequest request, ServerCallContext context)
    {
        MergeBody(request, request.Body);
        var (page, size) = Paging(request.Page, request.PageSize.Length > 0 ? request.PageSize : request.Pagesize);
        var cluster = request.RepoName.Length == 0 || request.RepoName.Contains('/') ? null : await ClusterAsync(request.ProjectId, context);
        var repository = Repository(request.RepoName, "repo_name", cluster);
        var names = await PageAsync(page, size, async token =>
        {
            var result = await registry.ListTagsAsync(new Rv1.ListTagsRequest { Repository = repository, PageSize = size, PageToken = token }, Caller.Options(context));
            return (result.Tags.Select(t => t.Name), result.NextPageToken);
        });
        var response = new Hv1.ListTagsResponse();
        response.Items.AddRange(names.Select(n => new NameItem { Name = n }));
        return response;
    }

    public override async Task<ManifestResponse> GetManifest(Hv1.GetManifestRequest request, ServerCallContext context)
    {
        MergeBody(request, request.Body);
        var repository = Repository(request.RepoName, "repo_name");
        if (request.Tag.Length == 0)
            throw Bad("tag is required");
        var manifest = await registry.GetManifestAsync(new Rv1.GetManifestRequest { Repository = repository, Reference = request.Tag, IncludeConfig = true }, Caller.Options(context));
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
            throw new RpcException(new Status(StatusCode.Unimplemented, "POST /repositories deletes a tag only with method=DELETE"));
        if (request.RepoName.Length == 0)
            throw Bad("repoName (the tag) is required");
        await registry.DeleteTagAsync(new Rv1.DeleteTagRequest
        {
            Repository = Repository(request.ProjectName, "projectName"), Tag = request.RepoName, Operator = Access.Operator(context, null),
        }, Caller.Options(context));
        return new CodeResponse { Code = 0, Msg = "" };
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
        if (projectId.Length == 0)
            return null;
        if (!long.TryParse(projectId, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            throw Bad("project_id must be a number");
        return (await registry.GetNamespaceAsync(new GetNamespaceRequest { Id = id }, Caller.Options(context))).Name;
    }

    static (int Page, int Size) Paging(string page, string pageSize)
    {
        static int Parse(string text, string name, int fallback) =>
            text.Length == 0 ? fallback
            : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= 1 ? value
            : throw Bad($"{name} must be a positive integer, not '{text}'");
        return (Parse(page, "page", 1), Math.Min(Parse(pageSize, "page_size", DefaultPageSize), MaxPageSize));
    }

    /// <summary>Page N of a token-paged list: walks the tokens (Harbor clients ask for early pages).</summary>
    static async Task<List<string>> PageAsync(int page, int size, Func<string, Task<(IEnumerable<string> Items, string Next)>> fetch)
    {
        var token = "";
        for (var i = 1; ; i++)
        {
            var (items, next) = await fetch(token);
            if (i == page)
                return items.ToList();
            if (next.Length == 0)
                return [];
            token = next;
        }
    }

    static RpcException Bad(string message) => new(new Status(StatusCode.InvalidArgument, message));

    /// <summary>Harbor's paging header on its lists: how many items all pages hold.</summary>
    static void TotalCount(ServerCallContext context, long total) =>
        context.GetHttpContext().Response.Headers["X-Total-Count"] = total.ToString(CultureInfo.InvariantCulture);

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
