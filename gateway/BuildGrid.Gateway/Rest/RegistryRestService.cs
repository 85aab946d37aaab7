using BuildGrid.Gateway.Rest.V1;
using BuildGrid.Registry.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using RegistryClient = BuildGrid.Registry.V1.Registry.RegistryClient;

namespace BuildGrid.Gateway.Rest;

/// <summary>
/// BuildGrid's own REST routes of the Registry service (registry_rest.proto): pull-through cache settings, forwarded
/// through the typed client with the caller's identity. The path's namespace wins over one in the body.
/// </summary>
public sealed class RegistryRestService(RegistryClient registry) : RegistryRest.RegistryRestBase
{
    static string PathValue(ServerCallContext context, string name, string fallback) =>
        context.GetHttpContext().Request.RouteValues.TryGetValue(name, out var value) && value is string text ? text : fallback;

    public override async Task<ProxyCache> SetProxyCache(SetProxyCacheRequest request, ServerCallContext context)
    {
        request.Namespace = PathValue(context, "namespace", request.Namespace);
        return await registry.SetProxyCacheAsync(request);
    }

    public override async Task<ProxyCache> GetProxyCache(GetProxyCacheRequest request, ServerCallContext context) =>
        await registry.GetProxyCacheAsync(request);

    public override async Task<ListProxyCachesResponse> ListProxyCaches(ListProxyCachesRequest request, ServerCallContext context) =>
        await registry.ListProxyCachesAsync(request);

    public override async Task<Empty> DeleteProxyCache(DeleteProxyCacheRequest request, ServerCallContext context) =>
        await registry.DeleteProxyCacheAsync(request);
}
