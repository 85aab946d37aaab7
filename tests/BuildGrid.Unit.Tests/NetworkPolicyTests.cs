using System.Net;
using BuildGrid.Core.Networking;

namespace BuildGrid.Unit.Tests;

/// <summary>The outbound address policy of webhooks, download-file steps, git contexts and proxy-cache upstreams.</summary>
public sealed class NetworkPolicyTests
{
    static readonly NetworkPolicy Default = new([], "X:AllowedNetworks");

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    [InlineData("169.254.169.254")]
    [InlineData("::ffff:127.0.0.1")]   // IPv4-mapped
    [InlineData("64:ff9b::7f00:1")]    // NAT64 of 127.0.0.1
    [InlineData("2002:7f00:1::")]      // 6to4 of 127.0.0.1
    [InlineData("0.0.0.0")]
    [InlineData("224.0.0.1")]
    public void Loopback_metadata_and_their_disguises_are_refused_naming_the_setting(string address) =>
        Assert.Contains("X:AllowedNetworks", Default.Refusal(IPAddress.Parse(address)));

    [Theory]
    [InlineData("10.1.2.3")]
    [InlineData("192.168.0.10")]
    [InlineData("203.0.113.7")]
    public void Private_and_public_networks_are_allowed(string address) => Assert.Null(Default.Refusal(IPAddress.Parse(address)));

    [Fact]
    public void An_allowed_network_opens_exactly_itself()
    {
        var policy = new NetworkPolicy(["127.0.0.1/32"], "X:AllowedNetworks");
        Assert.Null(policy.Refusal(IPAddress.Parse("127.0.0.1")));
        Assert.NotNull(policy.Refusal(IPAddress.Parse("127.0.0.2")));
    }

    [Theory]
    [InlineData("http://localhost/x", false)]
    [InlineData("http://foo.localhost/x", false)]
    [InlineData("http://[::1]:8080/x", false)]
    [InlineData("https://registry.example/x", true)]
    public void Literal_hosts_are_checked_without_dns(string url, bool allowed) =>
        Assert.Equal(allowed, Default.CheckLiteral(new Uri(url)) is null);
}
