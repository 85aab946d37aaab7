using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace BuildGrid.Registry.Proxy;

/// <summary>
/// How pull-through caches behave, bound from "Registry:Proxy". The caches themselves are configured per namespace:
/// in settings, <c>Registry:ProxyCache:&lt;namespace&gt;:Url</c> (plus <c>Username</c>, <c>Password</c>), or through
/// the gRPC/REST API (<see cref="ProxyCacheStore"/>).
/// </summary>
public sealed class ProxyOptions
{
    public const string Section = "Registry:Proxy";
    public const string CachesSection = "Registry:ProxyCache";

    /// <summary>
    /// A cached tag is served without asking the upstream for this long after it was last checked; after that the next
    /// pull re-validates it with one HEAD (no blob is fetched unless the tag moved). 0 re-validates on every pull.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "30.00:00:00")]
    public TimeSpan TagRevalidateAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Timeout of one request to an upstream (a blob download is bounded by <see cref="BlobTimeout"/> instead).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one blob download from an upstream may take.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan BlobTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Lets upstreams configured through the API be on loopback (127.0.0.0/8, ::1) — for an upstream that runs on the
    /// same machine. Off by default: a namespace owner could otherwise make the registry fetch from the host's own
    /// services. Upstreams in settings (written by the operator) may always be on loopback. Link-local and metadata
    /// addresses stay refused either way unless <see cref="AllowedNetworks"/> lists them.
    /// </summary>
    public bool AllowLoopbackUpstreams { get; set; }

    /// <summary>Networks (CIDR) upstreams may be in although the address policy (that of webhooks) refuses them.</summary>
    [BuildGrid.Core.Networking.CidrList]
    public List<string> AllowedNetworks { get; set; } = [];
}

[OptionsValidator]
internal sealed partial class ProxyOptionsValidator : IValidateOptions<ProxyOptions>;

/// <summary>The <c>Registry:ProxyCache</c> section: namespace → its upstream.</summary>
public sealed class ProxyCacheSettings : Dictionary<string, ProxyCacheSetting>
{
    public ProxyCacheSettings() : base(StringComparer.Ordinal) { }
}

/// <summary>Checks the settings' caches at start, so that a typo stops the start naming the setting.</summary>
internal sealed class ProxyCacheSettingsValidator : IValidateOptions<ProxyCacheSettings>
{
    public ValidateOptionsResult Validate(string? name, ProxyCacheSettings options)
    {
        var failures = new List<string>();
        foreach (var (ns, setting) in options)
        {
            var key = $"{ProxyOptions.CachesSection}:{ns}";
            if (UpstreamUrls.NamespaceProblem(ns) is { } badName)
                failures.Add($"{key}: {badName}");
            if (UpstreamUrls.Parse(setting.Url, out _) is { } badUrl)
                failures.Add($"{key}:Url: {badUrl}");
            if (string.IsNullOrEmpty(setting.Username) && !string.IsNullOrEmpty(setting.Password))
                failures.Add($"{key}: a Password needs a Username");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>One <c>Registry:ProxyCache:&lt;namespace&gt;</c> entry of the settings.</summary>
public sealed class ProxyCacheSetting
{
    public string Url { get; set; } = "";
    public string? Username { get; set; }
    public string? Password { get; set; }
}
