using System.Net;
using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// An image-market project's build context, end to end with real buildah, tar and skopeo: copy-file is refused at save
/// (10004, naming the step) while the project has no context; a tar.gz uploaded through REST
/// (POST /buildgrid/v1/projects/{name}/context) becomes its context, and the built image holds the copied file.
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
}
