using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace BuildGrid.Gateway;

/// <summary>REST gateway settings, bound from the "Gateway" section (env: Gateway__MaxRequestBodyBytes=8388608).</summary>
public sealed class GatewayOptions
{
    /// <summary>
    /// The largest request body a REST dialect route or <c>/buildgrid/v1</c> accepts (413 in the dialect's format beyond
    /// it). The seeds' bodies are small JSON; <c>/v2/</c> blob uploads keep the registry's own limit.
    /// </summary>
    [Range(1024, 1L << 30)]
    public long MaxRequestBodyBytes { get; set; } = 4 * 1024 * 1024;
}

[OptionsValidator]
internal sealed partial class GatewayOptionsValidator : IValidateOptions<GatewayOptions>;
