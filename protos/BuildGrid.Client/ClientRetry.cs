using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Net.Client.Configuration;

namespace BuildGrid.Client;

/// <summary>
/// Which calls the clients retry: only idempotent ones — the reads, whose method names start with Get, List, Read,
/// Watch or Render (<c>GetRun</c>, <c>ListRepositories</c>, <c>WatchRunLog</c>, <c>RenderDockerfile</c> …) — and only when
/// the answer is <c>Unavailable</c> (no connection, the server restarting, a proxy without a backend). A create, update,
/// start or delete is never repeated: the first attempt may have been carried out. gRPC retries a stream only until
/// its first message arrives.
/// </summary>
public static class ClientRetry
{
    static readonly string[] ReadPrefixes = ["Get", "List", "Read", "Watch", "Render"];

    /// <summary>The services of the package's clients.</summary>
    public static IReadOnlyList<ServiceDescriptor> Services { get; } =
    [
        Projects.V1.Projects.Descriptor,
        Builds.V1.BuildRuns.Descriptor,
        Builds.V1.BuildDefinitions.Descriptor,
        Containers.V1.Containers.Descriptor,
        Identity.V1.Identity.Descriptor,
        Registry.V1.Registry.Descriptor,
    ];

    /// <summary>Whether a call of <paramref name="method"/> may be repeated without changing anything.</summary>
    public static bool IsIdempotent(MethodDescriptor method) =>
        ReadPrefixes.Any(prefix => method.Name.StartsWith(prefix, StringComparison.Ordinal)
            && method.Name.Length > prefix.Length && char.IsUpper(method.Name[prefix.Length]));

    /// <summary>The full names (<c>/package.Service/Method</c>) of the methods the clients retry.</summary>
    public static IEnumerable<string> RetriedMethods =>
        Services.SelectMany(s => s.Methods).Where(IsIdempotent).Select(m => $"/{m.Service.FullName}/{m.Name}");

    internal static ServiceConfig ServiceConfig(BuildGridClientOptions options)
    {
        var config = new ServiceConfig();
        if (options.MaxAttempts < 2)
            return config;
        var retried = new MethodConfig
        {
            RetryPolicy = new RetryPolicy
            {
                MaxAttempts = options.MaxAttempts,
                InitialBackoff = options.InitialBackoff,
                MaxBackoff = options.MaxBackoff,
                BackoffMultiplier = 2,
                RetryableStatusCodes = { StatusCode.Unavailable },
            },
        };
        foreach (var method in Services.SelectMany(s => s.Methods).Where(IsIdempotent))
            retried.Names.Add(new MethodName { Service = method.Service.FullName, Method = method.Name });
        config.MethodConfigs.Add(retried);
        return config;
    }
}
