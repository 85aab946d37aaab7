using System.Net;
using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// An image-market project's build context, end to end with real buildah, tar and skopeo: copy-file is refused at save
/// (10004, naming the step) while the project has no context; a tar.gz uploaded through REST
/// (POST /buildgrid/v1/projects/{name}/context) becomes its context, and the built image holds the copied file; a git
/// repository served by a real <c>git daemon</c> on loopback is one too, once Projects:AllowedNetworks allows loopback
/// (the worker clones on the host's network, so the download policy applies: refused at save without it).
/// </summary>
public sealed class BuildContextTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Copy_file_needs_a_context_at_save_and_an_uploaded_archive_is_copied_into_the_image()
    {
        var skopeo = Tools.Require("skopeo", "skopeo");
        var tar = Tools.Require("tar", "tar");
        await using var host = await OwnedHost.StartAsync("context");
        var registry = host.RestUrl.Authority;
        await BusyboxImage.PushAsync($"{registry}/default_cluster/busybox:1");
        using var http = new HttpClient { BaseAddress = host.RestUrl };
        var api = new ImageMarketApi(http);
        using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
        var client = new BuildRuns.BuildRunsClient(channel);
        object[] Steps(bool copy) => copy
            ? [new { name = "base-image", @params = new { image = $"{registry}/default_cluster/busybox:1" } },
               new { name = "copy-file", @params = new { source = "site/hello.txt", destination = "/app/hello.txt" } }]
            : [new { name = "base-image", @params = new { image = $"{registry}/default_cluster/busybox:1" } }];
        Task<ImageMarketApi.Envelope> SaveAsync(string mode, bool copy) => api.PostJsonAsync("/api/project/save", new Dictionary<string, object>
        {
            ["project"] = "ctx", ["addOrUpdate"] = mode, ["operator"] = "root", ["DefineDockerFileType"] = "plugin", ["$$plugin"] = Steps(copy),
        });

        var refused = await SaveAsync("add", copy: true);
        Assert.Equal(10004, refused.Code);
        Assert.Contains("copy-file", refused.ErrMsg);
        var saved = await SaveAsync("add", copy: false);
        Assert.True(saved.Code == 10000, saved.ErrMsg);

        var source = TestDirectories.Create("context-source");
        try
        {
            Directory.CreateDirectory(Path.Combine(source, "site"));
            await File.WriteAllTextAsync(Path.Combine(source, "site", "hello.txt"), "hello from the context\n", Ct);
            await Tools.RunOkAsync(tar, source, "-czf", "context.tgz", "site");
            using (var upload = await http.PostAsync("/buildgrid/v1/projects/ctx/context",
                       new ByteArrayContent(await File.ReadAllBytesAsync(Path.Combine(source, "context.tgz"), Ct)), Ct))
                Assert.True(upload.StatusCode == HttpStatusCode.OK, $"{(int)upload.StatusCode} {await upload.Content.ReadAsStringAsync(Ct)}");
            var updated = await SaveAsync("update", copy: true);
            Assert.True(updated.Code == 10000, updated.ErrMsg);

            var build = await api.PostJsonAsync("/api/project/build", new { projectName = "ctx", @operator = "root", tag = "1" });
            Assert.True(build.Code == 10000, build.ErrMsg);
            var done = await Runs.FinishedAsync(client, build.Content.GetProperty("idStr").GetString()!, 240);
            Assert.True(done.State == RunState.Succeeded, $"{done.State}: {done.FailureReason}\n{await Runs.LogAsync(client, done.Id)}");

            // The file is in the pushed image: one of its layers holds app/hello.txt with the uploaded text.
            var pulled = Path.Combine(source, "pulled");
            await Tools.RunOkAsync(skopeo, source, "copy", "--src-tls-verify=false", $"docker://{registry}/default_cluster/ctx:1", $"dir:{pulled}");
            var contents = new List<string>();
            foreach (var blob in Directory.EnumerateFiles(pulled).Where(f => Path.GetFileName(f).Length == 64))
            {
                var (code, output) = await Tools.RunAsync(tar, source, "-xOf", blob, "app/hello.txt");
                if (code == 0) contents.Add(output);
            }
            Assert.Equal(["hello from the context"], contents.Select(c => c.Trim()));
        }
        finally
        {
            TestDirectories.TryDelete(source);
        }
    }

    [Fact]
    public async Task A_git_repository_is_a_build_context_under_the_download_policy()
    {
        var git = Tools.Require("git", "git");
        var skopeo = Tools.Require("skopeo", "skopeo");
        var tar = Tools.Require("tar", "tar");
        var root = TestDirectories.Create("context-git");
        System.Diagnostics.Process? daemon = null;
        try
        {
            // A repository with site/hello.txt on branch "release", served read-only by git's own daemon on loopback.
            var work = Path.Combine(root, "work");
            Directory.CreateDirectory(Path.Combine(work, "site"));
            await File.WriteAllTextAsync(Path.Combine(work, "site", "hello.txt"), "hello from git\n", Ct);
            await Tools.RunOkAsync(git, work, "init", "-q", "-b", "release");
            await Tools.RunOkAsync(git, work, "add", "site");
            await Tools.RunOkAsync(git, work, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "-m", "site");
            await Tools.RunOkAsync(git, root, "clone", "-q", "--bare", work, Path.Combine(root, "served", "site.git"));
            var port = FreePort();
            daemon = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(git,
                ["daemon", "--reuseaddr", "--export-all", "--informative-errors", "--listen=127.0.0.1", $"--port={port}",
                 $"--base-path={Path.Combine(root, "served")}", Path.Combine(root, "served")]) { UseShellExecute = false })!;
            var gitUrl = $"git://127.0.0.1:{port}/site.git";
            await WaitForPortAsync(port);

            Dictionary<string, object> Save(string registry) => new()
            {
                ["project"] = "gitctx", ["addOrUpdate"] = "add", ["operator"] = "root", ["DefineDockerFileType"] = "plugin",
                ["$$plugin"] = new object[]
                {
                    new { name = "base-image", @params = new { image = $"{registry}/default_cluster/busybox:1" } },
                    new { name = "copy-file", @params = new { source = "site/hello.txt", destination = "/app/hello.txt" } },
                },
                ["buildContext"] = new { gitUrl, gitRef = "release" },
            };

            // By default a loopback git host is refused at save, naming its address and the setting that allows it.
            await using (var guarded = await OwnedHost.StartAsync("context-git-refused"))
            {
                using var http = new HttpClient { BaseAddress = guarded.RestUrl };
                var refused = await new ImageMarketApi(http).PostJsonAsync("/api/project/save", Save(guarded.RestUrl.Authority));
                Assert.Equal(10006, refused.Code);   // an invalid parameter (the context is not a plugin step: 10004 is theirs)
                Assert.Contains("127.0.0.1", refused.ErrMsg);
                Assert.Contains("Projects:AllowedNetworks", refused.ErrMsg);
            }

            await using var host = await OwnedHost.StartAsync("context-git", "--Projects:AllowedNetworks:0=127.0.0.1/32");
            var registry = host.RestUrl.Authority;
            await BusyboxImage.PushAsync($"{registry}/default_cluster/busybox:1");
            using var client = new HttpClient { BaseAddress = host.RestUrl };
            var api = new ImageMarketApi(client);
            var saved = await api.PostJsonAsync("/api/project/save", Save(registry));
            Assert.True(saved.Code == 10000, saved.ErrMsg);
            var build = await api.PostJsonAsync("/api/project/build", new { projectName = "gitctx", @operator = "root", tag = "1" });
            Assert.True(build.Code == 10000, build.ErrMsg);
            using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
            var runs = new BuildRuns.BuildRunsClient(channel);
            var done = await Runs.FinishedAsync(runs, build.Content.GetProperty("idStr").GetString()!, 240);
            Assert.True(done.State == RunState.Succeeded, $"{done.State}: {done.FailureReason}\n{await Runs.LogAsync(runs, done.Id)}");
            var checkout = Assert.Single(done.Checkouts);
            Assert.Equal("release", checkout.Branch);
            Assert.Equal((await Tools.RunOkAsync(git, work, "rev-parse", "HEAD")).Trim(), checkout.Commit);

            var pulled = Path.Combine(root, "pulled");
            await Tools.RunOkAsync(skopeo, root, "copy", "--src-tls-verify=false", $"docker://{registry}/default_cluster/gitctx:1", $"dir:{pulled}");
            var contents = new List<string>();
            foreach (var blob in Directory.EnumerateFiles(pulled).Where(f => Path.GetFileName(f).Length == 64))
            {
                var (code, output) = await Tools.RunAsync(tar, root, "-xOf", blob, "app/hello.txt");
                if (code == 0) contents.Add(output.Trim());
            }
            Assert.Equal(["hello from git"], contents);
        }
        finally
        {
            if (daemon is { HasExited: false })
                daemon.Kill(entireProcessTree: true);
            daemon?.Dispose();
            TestDirectories.TryDelete(root);
        }
    }

    static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    static async Task WaitForPortAsync(int port)
    {
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var socket = new System.Net.Sockets.TcpClient();
                await socket.ConnectAsync(IPAddress.Loopback, port, Ct);
                return;
            }
            catch (System.Net.Sockets.SocketException)
            {
                await Task.Delay(50, Ct);
            }
        }
        Assert.Fail($"git daemon did not listen on 127.0.0.1:{port} within 5 s");
    }
}
