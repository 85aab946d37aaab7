using BuildGrid.Core.Networking;
using Microsoft.Extensions.Options;

namespace BuildGrid.Projects;

/// <summary>Settings of the Projects service, bound from "Projects" and validated at start.</summary>
public sealed class ProjectsOptions
{
    public const string Section = "Projects";

    /// <summary>The service key of the download-file steps' <see cref="NetworkPolicy"/>.</summary>
    public const string Downloads = "downloads";

    /// <summary>
    /// Networks (CIDR) a download-file step (or a defined Dockerfile's ADD of a URL) may fetch from although they are
    /// refused by default: loopback, link-local (cloud metadata), unspecified, multicast and broadcast addresses and
    /// every address of this host. Private networks are allowed without listing.
    /// </summary>
    [CidrList]
    public List<string> AllowedNetworks { get; set; } = [];
}

[OptionsValidator]
internal sealed partial class ProjectsOptionsValidator : IValidateOptions<ProjectsOptions>;
