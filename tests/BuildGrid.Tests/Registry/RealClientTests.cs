using System.Net;
using System.Text.Json;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Registry;

/// <summary>
/// skopeo and buildah push to and pull from a standalone host over plain HTTP on loopback. Images are made in the
/// test (OCI layouts written by hand, or buildah from scratch), so nothing comes from the network.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class RealClientTests(StandaloneFixture fixture) : IDisposable
{
    readonly string work = TestDirectories.Create("registry-clients");
    readonly V2Client v2 = new(fixture.Rest);
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    string Registry => $"{fixture.RestUrl.Host}:{fixture.RestUrl.Port}";

    public void Dispose() => TestDirectories.TryDelete(work);

    [Fact]
    public async Task Skopeo_copy_round_trips_an_image_with_unchanged_digests()
    {
        ExternalTool.Require("skopeo");
        var repo = V2Client.UniqueRepository("skopeo");
        var image = OciTestImage.Create("skopeo " + Guid.NewGuid());
        var source = Path.Combine(work, "source");
        OciTestImage.WriteLayout(source, "v1", image.Manifest, image.Blobs);

        await ExternalTool.RunAsync("skopeo", "copy", "--preserve-digests", "--dest-tls-verify=false",
            $"oci:{source}:v1", $"docker://{Registry}/{repo}:v1");
        var raw = await ExternalTool.RunAsync("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{Registry}/{repo}:v1");
        Assert.Equal(image.Manifest.Bytes, System.Text.Encoding.UTF8.GetBytes(raw.TrimEnd('\n')));

        var back = Path.Combine(work, "back");
        await ExternalTool.RunAsync("skopeo", "copy", "--preserve-digests", "--src-tls-verify=false",
            $"docker://{Registry}/{repo}:v1", $"oci:{back}:v1");
        Assert.Equal(image.Manifest.Digest, OciTestImage.LayoutDigest(back));
        foreach (var blob in image.Blobs)
            Assert.Equal(blob.Bytes, await File.ReadAllBytesAsync(Path.Combine(back, "blobs", "sha256", blob.Hex), Ct));

        // Registry to registry: skopeo mounts the blobs across repositories and the digest stays.
        await ExternalTool.RunAsync("skopeo", "copy", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false",
            $"docker://{Registry}/{repo}:v1", $"docker://{Registry}/{repo}-copy:v1");
        using var head = await v2.SendAsync(HttpMethod.Head, $"/v2/{repo}-copy/manifests/v1");
        Assert.Equal(image.Manifest.Digest, V2Client.Header(head, "Docker-Content-Digest"));
    }

    [Fact]
    public async Task Skopeo_copies_a_multi_arch_index_with_all_its_images()
    {
        ExternalTool.Require("skopeo");
        var repo = V2Client.UniqueRepository("multiarch");
        var amd = OciTestImage.Create("amd64 " + Guid.NewGuid(), "amd64");
        var arm = OciTestImage.Create("arm64 " + Guid.NewGuid(), "arm64");
        var index = OciTestImage.Index((amd, "amd64"), (arm, "arm64"));
        var source = Path.Combine(work, "multi");
        OciTestImage.WriteLayout(source, "v1", index, [.. amd.Blobs, amd.Manifest, .. arm.Blobs, arm.Manifest]);

        await ExternalTool.RunAsync("skopeo", "copy", "--all", "--preserve-digests", "--dest-tls-verify=false",
            $"oci:{source}:v1", $"docker://{Registry}/{repo}:v1");
        using (var get = await v2.SendAsync(HttpMethod.Get, $"/v2/{repo}/manifests/v1", configure: r => r.Headers.Accept.ParseAdd(OciTestImage.OciIndex)))
        {
            Assert.Equal(OciTestImage.OciIndex, get.Content.Headers.ContentType!.MediaType);
            Assert.Equal(index.Digest, V2Client.Header(get, "Docker-Content-Digest"));
        }
        // skopeo picks the platform's image from the index when asked for one architecture.
        var inspected = await ExternalTool.RunAsync("skopeo", "--override-arch", "arm64", "--override-os", "linux", "inspect",
            "--tls-verify=false", $"docker://{Registry}/{repo}:v1");
        Assert.Equal("arm64", JsonDocument.Parse(inspected).RootElement.GetProperty("Architecture").GetString());
        var armOnly = Path.Combine(work, "arm-only");
        await ExternalTool.RunAsync("skopeo", "--override-arch", "arm64", "--override-os", "linux", "copy", "--preserve-digests",
            "--src-tls-verify=false", $"docker://{Registry}/{repo}:v1", $"oci:{armOnly}:v1");
        Assert.Equal(arm.Manifest.Digest, OciTestImage.LayoutDigest(armOnly));

        var back = Path.Combine(work, "multi-back");
        await ExternalTool.RunAsync("skopeo", "copy", "--all", "--preserve-digests", "--src-tls-verify=false",
            $"docker://{Registry}/{repo}:v1", $"oci:{back}:v1");
        Assert.Equal(index.Digest, OciTestImage.LayoutDigest(back));
    }

    [Fact]
    public async Task Buildah_pushes_and_pulls_an_image_it_built()
    {
        ExternalTool.Require("buildah");
        var repo = V2Client.UniqueRepository("buildah");
        // A private storage root: no state shared with other users of buildah on the machine.
        string[] storage = ["--root", Path.Combine(work, "root"), "--runroot", Path.Combine(work, "runroot"), "--storage-driver", "vfs"];
        var file = Path.Combine(work, "greeting.txt");
        await File.WriteAllTextAsync(file, "hello " + Guid.NewGuid(), Ct);
        var container = (await ExternalTool.RunAsync("buildah", [.. storage, "from", "scratch"])).Trim();
        await ExternalTool.RunAsync("buildah", [.. storage, "copy", container, file, "/greeting.txt"]);
        await ExternalTool.RunAsync("buildah", [.. storage, "commit", "--format", "oci", container, $"{Registry}/{repo}:v1"]);

        var digestFile = Path.Combine(work, "digest");
        await ExternalTool.RunAsync("buildah", [.. storage, "push", "--tls-verify=false", "--digestfile", digestFile, $"{Registry}/{repo}:v1"]);
        var pushed = (await File.ReadAllTextAsync(digestFile, Ct)).Trim();
        using (var head = await v2.SendAsync(HttpMethod.Head, $"/v2/{repo}/manifests/v1"))
        {
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Equal(pushed, V2Client.Header(head, "Docker-Content-Digest"));
        }

        await ExternalTool.RunAsync("buildah", [.. storage, "rmi", "--all", "--force"]);
        await ExternalTool.RunAsync("buildah", [.. storage, "pull", "--tls-verify=false", $"{Registry}/{repo}:v1"]);
        var images = await ExternalTool.RunAsync("buildah", [.. storage, "images", "--digests", "--format", "{{.Name}}:{{.Tag}} {{.Digest}}"]);
        Assert.Contains(images.Split('\n'), line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries) is [var name, var digest]
            && name == $"{Registry}/{repo}:v1" && digest == pushed);
    }
}
