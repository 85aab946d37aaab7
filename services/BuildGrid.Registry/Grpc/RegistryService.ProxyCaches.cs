using BuildGrid.Core.Errors;
using BuildGrid.Core.Identity;
using BuildGrid.Registry.Proxy;
using BuildGrid.Registry.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace BuildGrid.Registry.Grpc;

/// <summary>Pull-through cache settings of namespaces: owners of the namespace and admins configure them; the password is write-only.</summary>
public sealed partial class RegistryService
{
    public override async Task<V1.ProxyCache> SetProxyCache(SetProxyCacheRequest request, ServerCallContext context)
    {
        RequireNamespace(request.Namespace);
        Access.Require(context, request.Namespace, Role.Owner);
        RefuseSettings(request.Namespace);
        if (UpstreamUrls.Parse(request.Url, out var url) is { } badUrl)
            throw Errors.Invalid(Reasons.InvalidArgument, "url", badUrl);
        if (request.Username.Length > 255 || request.Password.Length > 4096)
            throw Errors.Invalid(Reasons.InvalidArgument, request.Username.Length > 255 ? "username" : "password",
                "username is limited to 255 characters, password to 4096");
        if (request.Username.Length == 0 && request.Password.Length > 0)
            throw Errors.Invalid(Reasons.InvalidArgument, "username", "a password needs a username");
        if (request.Username.Any(c => c == ':' || char.IsControl(c)))
            throw Errors.Invalid(Reasons.InvalidArgument, "username", "a username cannot hold ':' or control characters");
        if (await UpstreamUrls.RefusalAsync(upstreamUrls.ForApi, url!, context.CancellationToken) is { } refusal)
            throw Errors.Invalid(Reasons.UpstreamRefused, "url", refusal);
        // An empty password keeps the stored one when the username is unchanged (the password is never read back).
        var previous = await caches.GetAsync(request.Namespace, context.CancellationToken);
        string? password = request.Password.Length > 0 ? request.Password
            : request.Username.Length > 0 && previous?.Username == request.Username ? null : "";
        return ToProto(await caches.SetAsync(request.Namespace, url!, request.Username, password, context.CancellationToken));
    }

    public override async Task<V1.ProxyCache> GetProxyCache(GetProxyCacheRequest request, ServerCallContext context)
    {
        RequireNamespace(request.Namespace);
        Access.Require(context, request.Namespace, Role.Guest);
        return ToProto(await caches.GetAsync(request.Namespace, context.CancellationToken)
            ?? throw Errors.NotFound(Reasons.ProxyCacheNotFound, "proxy cache", request.Namespace));
    }

    public override async Task<ListProxyCachesResponse> ListProxyCaches(ListProxyCachesRequest request, ServerCallContext context)
    {
        var principal = Access.PrincipalOf(context);
        var all = await caches.ListAsync(context.CancellationToken);
        return new ListProxyCachesResponse { ProxyCaches = { all.Where(c => principal.Can(c.Namespace, Role.Guest)).Select(ToProto) } };
    }

    public override async Task<Empty> DeleteProxyCache(DeleteProxyCacheRequest request, ServerCallContext context)
    {
        RequireNamespace(request.Namespace);
        Access.Require(context, request.Namespace, Role.Owner);
        RefuseSettings(request.Namespace);
        if (!await caches.DeleteAsync(request.Namespace, context.CancellationToken))
            throw Errors.NotFound(Reasons.ProxyCacheNotFound, "proxy cache", request.Namespace);
        return new Empty();
    }

    static void RequireNamespace(string name)
    {
        if (UpstreamUrls.NamespaceProblem(name) is { } problem)
            throw Errors.Invalid(Reasons.InvalidName, "namespace", problem);
    }

    void RefuseSettings(string name)
    {
        if (caches.IsFromSettings(name))
            throw Errors.Create(Google.Rpc.Code.FailedPrecondition, Reasons.ProxyCacheFromSettings,
                $"the cache of '{name}' is set in the settings (Registry:ProxyCache:{name}); change it there", ("namespace", name));
    }

    static V1.ProxyCache ToProto(Upstream upstream) => new()
    {
        Namespace = upstream.Namespace, Url = upstream.Url.ToString().TrimEnd('/'), Username = upstream.Username,
        HasPassword = upstream.Password.Length > 0, Source = upstream.FromSettings ? "settings" : "api",
        UpdateTime = upstream.UpdatedAt == 0 ? null : Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(upstream.UpdatedAt)),
    };
}
