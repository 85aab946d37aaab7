using BuildGrid.Core.Hosting;
using Microsoft.Extensions.Configuration;

namespace BuildGrid.Core.Clients;

/// <summary>
/// Where a BuildGrid service is reached, by its Dapr app id (<c>projects</c>, <c>builds</c>, ...):
/// <list type="number">
/// <item><c>BUILDGRID_{APPID}_URL</c> when set: a direct h2c address;</item>
/// <item>else, with a Dapr sidecar, the sidecar's gRPC port with <c>dapr-app-id</c> metadata (service invocation);</item>
/// <item>else this process's own gRPC listener (standalone: the service is hosted here), which typed clients skip:
/// they call the service in-process (<see cref="InProcessCallInvoker"/>).</item>
/// </list>
/// </summary>
public sealed class ServiceAddresses(IConfiguration configuration, BuildGridSettings settings, BuildGridEndpoints endpoints)
{
    /// <summary>
    /// The app ids of BuildGrid's services: the one list that addresses, the Redis event bus's subscribers and the
    /// identity settings derive from. Each service's own program is <c>BuildGrid.&lt;AppId&gt;</c>.
    /// </summary>
    public static readonly IReadOnlyList<string> AppIds = [Projects, Containers, Builds, Registry, Identity];

    // Each service's app id, for callers that know the service only by its contract (the gateway).
    public const string Projects = "projects";
    public const string Containers = "containers";
    public const string Builds = "builds";
    public const string Registry = "registry";
    public const string Identity = "identity";

    public static string UrlSetting(string appId) => $"BUILDGRID_{appId.ToUpperInvariant()}_URL";

    /// <summary>The app id whose own program this is (<c>BuildGrid.Identity</c> is <c>identity</c>); null for the gateway and other hosts.</summary>
    public static string? OwnAppIdOf(string applicationName) =>
        AppIds.FirstOrDefault(id => string.Equals(applicationName, "BuildGrid." + id, StringComparison.OrdinalIgnoreCase));

    /// <summary>True when the service is remote (its own process), so this process must not host it.</summary>
    public static bool IsRemote(IConfiguration configuration, string appId) =>
        !string.IsNullOrWhiteSpace(configuration[UrlSetting(appId)])
        || int.TryParse(configuration["DAPR_GRPC_PORT"], out _);

    public ServiceRoute RouteOf(string appId)
    {
        if (configuration[UrlSetting(appId)] is { Length: > 0 } url)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp)
                throw new StartupException($"{UrlSetting(appId)} must be an http:// (h2c) URL, not '{url}'.");
            return new ServiceRoute(uri, null, InProcess: false);
        }
        if (settings.DaprGrpcPort is { } daprPort)
            return new ServiceRoute(new Uri($"http://127.0.0.1:{daprPort}"), appId, InProcess: false);
        return new ServiceRoute(endpoints.GrpcUri, null, InProcess: true);
    }
}

/// <summary>
/// An h2c address, the Dapr app id to put in the call metadata when the address is a sidecar, and whether the address
/// is this process itself (the service is hosted here and can be called in-process).
/// </summary>
public sealed record ServiceRoute(Uri Address, string? DaprAppId, bool InProcess);
