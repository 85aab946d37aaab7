using System.Diagnostics;
using System.Text.RegularExpressions;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Operations;

/// <summary>
/// The gateway's Containerfile builds an image that starts and answers /healthz, checked with real buildah
/// (vfs storage, chroot isolation, as root) and no network: the base image is assembled from this machine's .NET
/// runtime (instead of mcr.microsoft.com/dotnet/aspnet) and the published application is the test build's output
/// (the Containerfile's APP_SOURCE), so only the Containerfile's own stages and configuration are under test.
/// </summary>
public sealed partial class ContainerImageTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [GeneratedRegex(@"=>\s+(?<path>/\S+)|^\s*(?<path>/\S+)\s+\(", RegexOptions.Multiline)]
    private static partial Regex LddPath();

    [Fact]
    public async Task The_gateway_image_builds_offline_runs_as_non_root_and_answers_healthz()
    {
        var buildah = Tools.Require("buildah", "buildah");
        if (Environment.UserName != "root")
            throw Xunit.Sdk.SkipException.ForSkip("buildah with vfs storage and chroot isolation runs as root here");
        var tag = Guid.NewGuid().ToString("N")[..8];
        var (runtimeImage, appImage, image) = ($"localhost/buildgrid-test/aspnet-offline:{tag}", $"localhost/buildgrid-test/gateway-app:{tag}", $"localhost/buildgrid-test/gateway:{tag}");
        var work = TestDirectories.Create("container-image");
        var containers = new List<string>();
        Task<string> Buildah(params string[] arguments) => Tools.RunOkAsync(buildah, work, ["--storage-driver", "vfs", .. arguments]);
        try
        {
            // 1. A runtime base from this machine: the dotnet host, the two shared frameworks, the libraries they load.
            var dotnetRoot = Path.GetDirectoryName(new FileInfo(Tools.Find("dotnet")!).ResolveLinkTarget(true)?.FullName ?? Tools.Find("dotnet")!)!;
            var rootfs = Path.Combine(work, "rootfs");
            var target = Path.Combine(rootfs, "usr/share/dotnet");
            Directory.CreateDirectory(Path.Combine(target, "shared"));
            File.Copy(Path.Combine(dotnetRoot, "dotnet"), Path.Combine(target, "dotnet"));
            await Tools.RunOkAsync("cp", work, "-a", Path.Combine(dotnetRoot, "host"), target);
            foreach (var framework in new[] { "Microsoft.NETCore.App", "Microsoft.AspNetCore.App" })
                await Tools.RunOkAsync("cp", work, "-a", Path.Combine(dotnetRoot, "shared", framework), Path.Combine(target, "shared"));
            var libraries = new HashSet<string>(StringComparer.Ordinal);
            foreach (var binary in Directory.EnumerateFiles(target, "*", SearchOption.AllDirectories).Where(f => f.EndsWith(".so", StringComparison.Ordinal) || f.EndsWith("/dotnet", StringComparison.Ordinal)))
            {
                var (_, ldd) = await Tools.RunAsync("ldd", work, binary);
                foreach (Match match in LddPath().Matches(ldd))
                    libraries.Add(match.Groups["path"].Value);
            }
            // Loaded with dlopen, so ldd does not name them: OpenSSL (hashing, AES, TLS) and ICU (the gateway and Containers
            // normalise names to NFC, so they run with globalization, as the aspnet base images ship it).
            var (_, cache) = await Tools.RunAsync("ldconfig", work, "-p");
            foreach (Match match in Regex.Matches(cache, @"(libssl\.so\.3|libcrypto\.so\.3|libicu(uc|i18n|data)\.so\.\d+) \(libc6,x86-64\) => (?<path>\S+)"))
                libraries.Add(match.Groups["path"].Value);
            foreach (var library in libraries)
            {
                var copy = Path.Combine(rootfs, library.TrimStart('/'));
                Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
                if (!File.Exists(copy))
                    await Tools.RunOkAsync("cp", work, "-L", library, copy);
            }
            Directory.CreateDirectory(Path.Combine(rootfs, "etc"));
            await File.WriteAllTextAsync(Path.Combine(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/sbin/nologin\napp:x:1654:1654:app:/home/app:/sbin/nologin\n", Ct);
            await File.WriteAllTextAsync(Path.Combine(rootfs, "etc/group"), "root:x:0:\napp:x:1654:\n", Ct);
            Directory.CreateDirectory(Path.Combine(rootfs, "usr/bin"));
            File.CreateSymbolicLink(Path.Combine(rootfs, "usr/bin/dotnet"), "/usr/share/dotnet/dotnet");
            Directory.CreateDirectory(Path.Combine(rootfs, "tmp"));
            await Tools.RunOkAsync("chmod", work, "1777", Path.Combine(rootfs, "tmp"));
            // The product sets the process umask to 077 (owner-only data), and in-process hosts of other tests share this
            // process: what the image's non-root user must read is made readable explicitly.
            await Tools.RunOkAsync("chmod", work, "-R", "go+rX", rootfs);
            var baseContainer = (await Buildah("from", "scratch")).Trim();
            containers.Add(baseContainer);
            await Buildah("copy", baseContainer, rootfs, "/");
            await Buildah("config", "--env", "PATH=/usr/bin:/bin", "--env", "DOTNET_ROOT=/usr/share/dotnet", baseContainer);
            await Buildah("commit", "--quiet", baseContainer, runtimeImage);

            // 2. The published gateway (the test build's output) as the Containerfile's APP_SOURCE: /app.
            var appContainer = (await Buildah("from", "scratch")).Trim();
            containers.Add(appContainer);
            await Buildah("copy", appContainer, Path.Combine(TestDirectories.RepositoryRoot, "gateway/BuildGrid.Gateway/bin", TestDirectories.Configuration, "net10.0"), "/app");
            await Buildah("commit", "--quiet", appContainer, appImage);

            // 3. The Containerfile itself, from the repository root as documented.
            await Buildah("build", "--isolation", "chroot", "--ignorefile", Path.Combine(TestDirectories.RepositoryRoot, "dapr/kubernetes/containerignore"), "--build-arg", $"RUNTIME_IMAGE={runtimeImage}", "--build-arg", $"APP_SOURCE={appImage}",
                "-f", "gateway/BuildGrid.Gateway/Containerfile", "-t", image, TestDirectories.RepositoryRoot);
            var user = (await Buildah("inspect", "--type", "image", "--format", "{{.OCIv1.Config.User}}", image)).Trim();
            Assert.Equal("1654:1654", user);
            var entrypoint = (await Buildah("inspect", "--type", "image", "--format", "{{range .OCIv1.Config.Entrypoint}}{{.}} {{end}}", image)).Trim().Split(' ');
            Assert.Equal(["dotnet", "/app/BuildGrid.Gateway.dll"], entrypoint);

            // 4. Run it: its entrypoint, its user, a data volume (as Kubernetes mounts one); /healthz answers.
            var data = Path.Combine(work, "data");
            Directory.CreateDirectory(data);
            await Tools.RunOkAsync("chown", work, "1654:1654", data);
            var container = (await Buildah("from", image)).Trim();
            containers.Add(container);
            var port = ServiceProcess.FreePort();
            var start = new ProcessStartInfo(buildah, ["--storage-driver", "vfs", "run", "--isolation", "chroot", "--volume", $"{data}:/data",
                // The gateway hosts no service: each has an address, as in Kubernetes (nothing listens there; the
                // gateway's own start and /healthz, which checks no dependency, are what is proved here).
                .. new[] { "PROJECTS", "CONTAINERS", "BUILDS", "REGISTRY", "IDENTITY" }.SelectMany(s => new[] { "--env", $"BUILDGRID_{s}_URL=http://127.0.0.1:{ServiceProcess.FreePort()}" }),
                "--env", $"BUILDGRID_REST_URL=http://127.0.0.1:{port}", "--env", $"BUILDGRID_GRPC_URL=http://127.0.0.1:{ServiceProcess.FreePort()}",
                container, "--", .. entrypoint])
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var run = Process.Start(start)!;
            var output = new System.Text.StringBuilder();
            run.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            run.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            run.BeginOutputReadLine();
            run.BeginErrorReadLine();
            try
            {
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
                var healthy = await Eventually.Async(() =>
                {
                    if (run.HasExited) return "exited";
                    try { return http.GetStringAsync($"http://127.0.0.1:{port}/healthz").GetAwaiter().GetResult(); }
                    catch (HttpRequestException) { return ""; }
                    catch (TaskCanceledException) { return ""; }
                }, s => s.Length > 0, 90_000);
                lock (output) Assert.True(healthy == "Healthy", $"healthz: {healthy}\n{output}");
                // The process in the container is not root.
                var gateway = Tools.ProcessesWith("/app/BuildGrid.Gateway.dll").Where(pid => pid != run.Id)
                    .Select(pid => File.ReadAllLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal)))
                    .Where(l => l is not null).ToList();
                Assert.Contains(gateway, l => l!.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] == "1654");
            }
            finally
            {
                if (!run.HasExited)
                    run.Kill(entireProcessTree: true);
                await run.WaitForExitAsync(Ct);
                // buildah's chroot executor re-parents the container's process away from `buildah run`: kill it by its
                // command line too, so that no gateway outlives the test.
                foreach (var pid in Tools.ProcessesWith("/app/BuildGrid.Gateway.dll"))
                {
                    try { Process.GetProcessById(pid).Kill(); }
                    catch (ArgumentException) { }
                    catch (InvalidOperationException) { }
                }
            }
        }
        finally
        {
            foreach (var container in containers)
                await Tools.RunAsync(buildah, work, "--storage-driver", "vfs", "rm", container);
            foreach (var name in new[] { image, appImage, runtimeImage })
                await Tools.RunAsync(buildah, work, "--storage-driver", "vfs", "rmi", "--force", name);
            TestDirectories.TryDelete(work);
        }
    }
}
