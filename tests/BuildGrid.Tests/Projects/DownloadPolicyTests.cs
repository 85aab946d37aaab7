using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Projects;

/// <summary>
/// A download-file step (buildah fetches its URL from the host's own network) and a defined Dockerfile's ADD of a URL
/// are held to the outbound address policy: 10004 naming the URL when saved or rendered, and again when a build
/// renders the Dockerfile, after DNS resolution.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class DownloadPolicyTests(StandaloneFixture fixture) : IDisposable
{
    public void Dispose() => fixture.AssertNoErrorsLogged();

    readonly ImageMarketApi api = new(fixture.Rest);

    static Dictionary<string, object> PluginProject(string name, string url) => new()
    {
        ["project"] = name, ["Cluster"] = "default", ["DefineDockerFileType"] = "plugin", ["addOrUpdate"] = "add", ["operator"] = "alice",
        ["$$plugin"] = new object[]
        {
            new { name = "base-image", @params = new { image = "alpine:3.20" } },
            new { name = "download-file", @params = new { url, destination = "/opt/" } },
        },
    };

    /// <summary>This host's own interface addresses other than loopback (a service bound to 0.0.0.0 answers on them).</summary>
    static IEnumerable<IPAddress> OwnAddresses() => NetworkInterface.GetAllNetworkInterfaces()
        .SelectMany(i => i.GetIPProperties().UnicastAddresses.Select(u => u.Address))
        .Where(a => !IPAddress.IsLoopback(a) && !a.IsIPv6LinkLocal);

    static string UrlOf(IPAddress address, string path) =>
        address.AddressFamily == AddressFamily.InterNetworkV6 ? $"http://[{address}]:8080{path}" : $"http://{address}:8080{path}";

    [Fact]
    public async Task Loopback_metadata_and_own_addresses_are_refused_when_saved_and_rendered_naming_the_url()
    {
        var urls = new List<string> { "http://127.0.0.1:8080/secret.txt", "http://169.254.169.254/latest/meta-data/iam", "http://localhost:9/x.bin",
            "http://[::ffff:127.0.0.1]/x.bin", "http://[::1]:8080/x.bin" };
        urls.AddRange(OwnAddresses().Select(a => UrlOf(a, "/own.bin")));
        Assert.True(urls.Count > 5, "this host has a non-loopback interface address to test with");
        foreach (var url in urls)
        {
            var saved = await api.PostJsonAsync("/api/project/save", PluginProject(ImageMarketApi.UniqueName("dl"), url));
            Assert.True(saved.Code == 10004, $"{url}: expected 10004, got {saved.Code} {saved.ErrMsg} {saved.Content}");
            Assert.Contains(new Uri(url).AbsoluteUri, saved.ErrMsg + saved.Content);

            var rendered = await api.PostJsonAsync("/api/plugin/extension/interface",
                new { plugin = "download-file", method = "render", @params = new { url, destination = "/opt/" } });
            Assert.True(rendered.Code == 10004, $"{url}: expected 10004, got {rendered.Code} {rendered.ErrMsg} {rendered.Content}");
        }

        // A public name is not resolved at save: it is checked again when a build renders it.
        var ok = await api.PostJsonAsync("/api/project/save", PluginProject(ImageMarketApi.UniqueName("dl"), "https://example.invalid/tool.tar.gz"));
        Assert.True(ok.Code == 10000, $"{ok.Code} {ok.ErrMsg} {ok.Content}");
    }

    [Fact]
    public async Task A_name_that_resolves_to_this_host_is_refused_when_a_build_renders_the_step()
    {
        // The machine's own host name resolves (from /etc/hosts, no DNS traffic) to one of its own addresses.
        var host = Dns.GetHostName();
        var addresses = await Dns.GetHostAddressesAsync(host, TestContext.Current.CancellationToken);
        Assert.NotEmpty(addresses);
        var url = $"http://{host}:8080/secret.txt";
        var name = ImageMarketApi.UniqueName("dlb");
        var saved = await api.PostJsonAsync("/api/project/save", PluginProject(name, url));
        Assert.True(saved.Code == 10000, $"a name is not resolved at save: {saved.Code} {saved.ErrMsg} {saved.Content}");

        var build = await api.PostJsonAsync("/api/project/build", new { projectName = name, @operator = "alice", tag = "1" });
        Assert.True(build.Code == 10004, $"expected 10004, got {build.Code} {build.ErrMsg} {build.Content}");
        Assert.Contains(new Uri(url).AbsoluteUri, build.ErrMsg + build.Content);
        Assert.Contains("resolves to", build.ErrMsg + build.Content);
    }

    [Fact]
    public async Task A_defined_dockerfile_that_adds_a_loopback_url_does_not_build()
    {
        var name = ImageMarketApi.UniqueName("dld");
        var saved = await api.PostJsonAsync("/api/project/save", new Dictionary<string, object>
        {
            ["project"] = name, ["Cluster"] = "default", ["DefineDockerFileType"] = "define", ["addOrUpdate"] = "add", ["operator"] = "alice",
            ["Dockerfile"] = "FROM alpine:3.20\nadd --chmod=644 http://127.0.0.1:8080/secret.txt /secret\n",
        });
        Assert.True(saved.Code == 10000, $"{saved.Code} {saved.ErrMsg} {saved.Content}");
        var build = await api.PostJsonAsync("/api/project/build", new { projectName = name, @operator = "alice", tag = "1" });
        Assert.NotEqual(10000, build.Code);
        Assert.Contains("http://127.0.0.1:8080/secret.txt", build.ErrMsg + build.Content);
    }
}
