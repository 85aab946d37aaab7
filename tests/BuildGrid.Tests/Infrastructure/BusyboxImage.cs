namespace BuildGrid.Tests.Infrastructure;

/// <summary>
/// A small base image made without any network: Debian's static busybox (busybox-static) in an image built
/// <c>from scratch</c> with buildah, its applets installed as /bin/sh, /bin/echo ... — so that RUN steps work. Built in
/// a storage of its own (vfs), pushed with buildah to any registry reached over plain HTTP, and the storage removed.
/// </summary>
public static class BusyboxImage
{
    /// <summary>Builds the image and pushes it to <paramref name="reference"/> (<c>host:port/repository:tag</c>); answers its digest.</summary>
    public static async Task<string> PushAsync(string reference, string label = "busybox")
    {
        var buildah = Tools.Require("buildah", "buildah");
        var busybox = Tools.Require("busybox", "busybox-static");
        var dir = TestDirectories.Create("busybox-image");
        try
        {
            string[] storage = ["--root", Path.Combine(dir, "root"), "--runroot", Path.Combine(dir, "run"), "--storage-driver", "vfs"];
            var container = (await Tools.RunOkAsync(buildah, dir, [.. storage, "from", "scratch"])).Trim().Split('\n')[^1];
            await Tools.RunOkAsync(buildah, dir, [.. storage, "copy", container, Path.GetFullPath(busybox), "/bin/busybox"]);
            await Tools.RunOkAsync(buildah, dir, [.. storage, "run", "--isolation", "chroot", container, "/bin/busybox", "--install", "-s", "/bin"]);
            await Tools.RunOkAsync(buildah, dir, [.. storage, "config", "--cmd", "/bin/sh", "--label", $"base={label}", container]);
            await Tools.RunOkAsync(buildah, dir, [.. storage, "commit", "--quiet", container, "busybox-base"]);
            var digestFile = Path.Combine(dir, "digest");
            await Tools.RunOkAsync(buildah, dir, [.. storage, "push", "--tls-verify=false", "--digestfile", digestFile, "busybox-base", $"docker://{reference}"]);
            return (await File.ReadAllTextAsync(digestFile)).Trim();
        }
        finally
        {
            TestDirectories.TryDelete(dir);
        }
    }
}
