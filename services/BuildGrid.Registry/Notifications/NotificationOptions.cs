using System.ComponentModel.DataAnnotations;
using BuildGrid.Core.Networking;
using Microsoft.Extensions.Options;

namespace BuildGrid.Registry.Notifications;

/// <summary>Delivery of repository notifications, bound from "Registry:Notifications" and validated at start.</summary>
public sealed class NotificationOptions
{
    public const string Section = "Registry:Notifications";

    /// <summary>The service key of the webhooks' <see cref="BuildGrid.Core.Networking.NetworkPolicy"/>.</summary>
    public const string Targets = "webhooks";

    /// <summary>Attempts per delivery (the first included) before it is abandoned; Quay's queue allows 5.</summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 5;

    /// <summary>The shortest wait before a retry; the longest doubles with each further retry (up to <see cref="MaxBackoff"/>), and the wait is drawn between them.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(30);

    [Range(typeof(TimeSpan), "00:00:00.010", "1.00:00:00")]
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>How often the sender looks for due deliveries when nothing wakes it.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Timeout of one webhook POST (Quay's NOTIFICATION_SEND_TIMEOUT is 10 s).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Networks (CIDR, such as "10.0.0.0/8" or "127.0.0.1/32") webhook targets may be in although they are refused by
    /// default: loopback, link-local (169.254.0.0/16 and fe80::/10, which hold the cloud metadata endpoints),
    /// fd00:ec2::254, unspecified, multicast and broadcast addresses, and every address of this host's own interfaces.
    /// Private networks are allowed without listing.
    /// </summary>
    [CidrList]
    public List<string> AllowedNetworks { get; set; } = [];

    /// <summary>The host name in payloads' docker_url and homepage (Quay's SERVER_HOSTNAME).</summary>
    [Required]
    public string ServerHostname { get; set; } = "localhost";
}

[OptionsValidator]
internal sealed partial class NotificationOptionsValidator : IValidateOptions<NotificationOptions>;
