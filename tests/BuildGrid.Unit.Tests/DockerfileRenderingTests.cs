using BuildGrid.Core.Networking;
using BuildGrid.Projects.Domain;
using BuildGrid.Projects.Domain.Plugins;
using BuildGrid.Projects.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace BuildGrid.Unit.Tests;

/// <summary>
/// Plugin steps rendered into the Dockerfile a build runs: every value quoted so that none can add an instruction, the
/// first step a base image, and ADD URLs held to the download policy — as the Projects service composes them.
/// </summary>
public sealed class DockerfileRenderingTests
{
    static readonly NetworkPolicy Downloads = new([], "Projects:AllowedNetworks");
    static readonly PluginRegistry Plugins = new(
    [
        new BaseImagePlugin(), new PackagesPlugin(), new EnvPlugin(), new RunPlugin(), new WorkdirPlugin(), new CopyFilePlugin(),
        new DownloadFilePlugin(Downloads), new ExposePlugin(), new LabelPlugin(), new UserPlugin(), new EntrypointPlugin(), new CmdPlugin(),
    ]);
    static readonly DockerfileRenderer Renderer = new(Plugins, Downloads);
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static PluginStep Step(string plugin, object parameters) => new()
    {
        Plugin = plugin,
        Parameters = Struct.Parser.ParseJson(System.Text.Json.JsonSerializer.Serialize(parameters)),
    };

    static Project Project(params PluginStep[] steps) => new() { Name = "web", DockerfileType = DockerfileType.Plugin, Plugins = { steps } };

    [Fact]
    public async Task Steps_render_in_order_with_a_multi_line_run_in_exec_form()
    {
        var text = await Renderer.RenderAsync(Project(
            Step("base-image", new { image = "127.0.0.1:8080/default_cluster/busybox:1" }),
            Step("env", new { variables = new Dictionary<string, string> { ["GREETING"] = "hello world" } }),
            Step("run", new { command = "echo one\necho two" }),
            Step("cmd", new { command = new[] { "cat", "/hello.txt" } })), Ct);
        var lines = text.TrimEnd('\n').Split('\n');
        Assert.StartsWith("# Rendered by BuildGrid", lines[0]);
        Assert.Equal("FROM 127.0.0.1:8080/default_cluster/busybox:1", lines[1]);
        Assert.Equal("ENV GREETING=\"hello world\"", lines[2]);
        Assert.Equal("RUN [\"/bin/sh\", \"-c\", \"echo one\\necho two\"]", lines[3]);
        Assert.Equal("CMD [\"cat\", \"/hello.txt\"]", lines[4]);
        Assert.Equal(5, lines.Length);
    }

    [Fact]
    public void A_value_cannot_add_an_instruction()
    {
        var error = Assert.Throws<RpcException>(() => Renderer.Validate(
            [Step("base-image", new { image = "busybox" }), Step("env", new { variables = new Dictionary<string, string> { ["A\nRUN id"] = "x" } })]));
        Assert.Contains("step 2 (env)", error.Status.Detail);
        Assert.Contains("parameter 'variables'", error.Status.Detail);
    }

    [Fact]
    public void The_first_step_must_be_a_base_image_and_copy_file_needs_a_context()
    {
        Assert.Contains("must be base-image",
            Assert.Throws<RpcException>(() => Renderer.Validate([Step("run", new { command = "true" })])).Status.Detail);
        var noContext = Assert.Throws<RpcException>(() => Renderer.Validate(
            [Step("base-image", new { image = "busybox" }), Step("copy-file", new { source = "a", destination = "/a" })]));
        Assert.Contains("step 2 (copy-file)", noContext.Status.Detail);
        Renderer.Validate([Step("base-image", new { image = "busybox" }), Step("copy-file", new { source = "a", destination = "/a" })], hasBuildContext: true);
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080/secret")]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://localhost/x.tgz")]
    public void Downloads_from_loopback_and_metadata_addresses_are_refused_naming_the_setting(string url)
    {
        var error = Assert.Throws<RpcException>(() => Renderer.Validate(
            [Step("base-image", new { image = "busybox" }), Step("download-file", new { url, destination = "/opt/" })]));
        Assert.Contains("Projects:AllowedNetworks", error.Status.Detail);
    }

    [Fact]
    public async Task A_git_context_on_loopback_is_refused_when_a_build_renders_the_project()
    {
        var project = Project(Step("base-image", new { image = "busybox" }));
        project.BuildContext = new BuildContext { GitUrl = "git://127.0.0.1:9418/app.git", GitRef = "main" };
        var error = await Assert.ThrowsAsync<RpcException>(() => Renderer.RenderAsync(project, Ct));
        Assert.Contains("build context", error.Status.Detail);
        Assert.Contains("127.0.0.1", error.Status.Detail);
    }
}
