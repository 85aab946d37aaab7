using System.Net;
using System.Text.Json;
using BuildGrid.Tests.Infrastructure;
using BuildGrid.Tests.Registry;

namespace BuildGrid.Tests.Distributed;

/// <summary>
/// The tye layout's /v2/: the Registry runs as its own process and the gateway forwards /v2/ to it
/// (BUILDGRID_REGISTRY_REST_URL), so real clients push to and pull from the gateway's address — skopeo pushes, podman
/// pulls, digests unchanged. A gateway without the setting answers the distribution API's UNAVAILABLE naming it.
/// </summary>
public sealed class RegistryForwardingTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Podman_pulls_through_the_gateway_what_skopeo_pushed_through_it_to_a_separate_registry()
    {
        var skopeo = Tools.Require("skopeo", "skopeo");
        var podman = Tools.Require("podman", "podman");
        await using var redis = await RedisServer.StartAsync();
        var root = TestDirectories.Create("registry-forwarding");
        try
        {
            await using var registry = await ServiceProcess.StartAsync("BuildGrid.Registry", new Dictionary<string, string>
            {
                ["BUILDGRID_DATA_DIR"] = Path.Combine(root, "registry"),
                ["BUILDGRID_REDIS"] = redis.ConnectionString,
            });
            Dictionary<string, string> Gateway(string name, bool forward)
            {
                var environment = new Dictionary<string, string>
                {
                    ["BUILDGRID_DATA_DIR"] = Path.Combine(root, name),
                    ["BUILDGRID_REDIS"] = redis.ConnectionString,
                    ["BUILDGRID_REGISTRY_URL"] = registry.GrpcUrl.ToString(),
                };
                if (forward)
                    environment["BUILDGRID_REGISTRY_REST_URL"] = registry.RestUrl.ToString();
                return environment;
            }
            await using var gateway = await ServiceProcess.StartAsync("BuildGrid.Standalone", Gateway("gateway", forward: true));
            var address = gateway.RestUrl.Authority;

            var repository = V2Client.UniqueRepository("forwarded");
            var image = OciTestImage.Create("through the gateway " + Guid.NewGuid());
            var source = Path.Combine(root, "source");
            OciTestImage.WriteLayout(source, "v1", image.Manifest, image.Blobs);
            await Tools.RunOkAsync(skopeo, root, "copy", "--preserve-digests", "--dest-tls-verify=false", $"oci:{source}:v1", $"docker://{address}/{repository}:v1");

            // Stored by the Registry process: its own listener serves the manifest too.
            using (var direct = new HttpClient { BaseAddress = registry.RestUrl })
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/{repository}/manifests/v1");
                request.Headers.Accept.ParseAdd(image.Manifest.MediaType);
                using var response = await direct.SendAsync(request, Ct);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(image.Manifest.Bytes, await response.Content.ReadAsByteArrayAsync(Ct));
            }

            // podman with a storage of its own (nothing shared with other users of this machine's containers storage).
            var pulled = $"{address}/{repository}:v1";
            var runRoot = Directory.CreateTempSubdirectory("podman").FullName; // podman wants a run root of at most 50 characters
            try
            {
                string[] storage = ["--root", Path.Combine(root, "podman"), "--runroot", runRoot, "--storage-driver", "vfs"];
                var (code, output) = await Tools.RunAsync(podman, root, [.. storage, "pull", "--tls-verify=false", pulled]);
                Assert.True(code == 0, $"podman pull {pulled}: {output}");
                var digest = (await Tools.RunOkAsync(podman, root, [.. storage, "image", "inspect", "--format", "{{.Digest}}", pulled])).Trim();
                Assert.Equal(image.Manifest.Digest, digest);
            }
            finally
            {
                TestDirectories.TryDelete(runRoot);
            }

            // Without the setting, /v2/ says what is missing, in the distribution API's error format.
            await using var unforwarded = await ServiceProcess.StartAsync("BuildGrid.Standalone", Gateway("unforwarded", forward: false));
            using var http = new HttpClient { BaseAddress = unforwarded.RestUrl };
            using var refused = await http.GetAsync("/v2/", Ct);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("errors")[0];
            Assert.Equal("UNAVAILABLE", error.GetProperty("code").GetString());
            Assert.Contains("BUILDGRID_REGISTRY_REST_URL", error.GetProperty("message").GetString());
        }
        finally
        {
            TestDirectories.TryDelete(root);
        }
    }
}
