using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// A failed run's failure_reason names the step that failed — base-image pull, Dockerfile step N, script, push — and
/// quotes its last lines of output with secrets masked; "buildah bud failed with code 125" alone is what it replaced.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class FailureReasonTests(StandaloneFixture fixture) : IDisposable
{
    readonly BuildRuns.BuildRunsClient client = new(fixture.Channel);
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => fixture.AssertNoErrorsLogged();

    async Task<Run> FailAsync(RunSpec spec)
    {
        var run = await client.StartRunAsync(new StartRunRequest { Spec = spec }, cancellationToken: Ct);
        var done = await Runs.FinishedAsync(client, run.Id, 180);
        Assert.True(done.State == RunState.Failed, $"{done.State}: {done.FailureReason}\n{await Runs.LogAsync(client, run.Id)}");
        return done;
    }

    [Fact]
    public async Task A_failing_Dockerfile_step_is_named_with_its_number_and_buildahs_words()
    {
        Tools.Require("buildah", "buildah");
        var done = await FailAsync(new RunSpec
        {
            DockerBuild = new DockerBuild { Image = "reasons/step:1", DockerfileContent = "FROM scratch\nLABEL a=b\nRUN echo from-the-run-step\n" },
            TimeoutSeconds = 300,
        });
        Assert.StartsWith("Dockerfile STEP 3/3: RUN echo from-the-run-step failed; its last output:\n  > ", done.FailureReason);
        // scratch has no shell: buildah says so, and that is quoted.
        Assert.Contains("/bin/sh", done.FailureReason);
    }

    [Fact]
    public async Task A_missing_base_image_is_a_base_image_pull_failure()
    {
        Tools.Require("buildah", "buildah");
        var done = await FailAsync(new RunSpec
        {
            DockerBuild = new DockerBuild { Image = "reasons/pull:1", DockerfileContent = $"FROM {fixture.RestUrl.Authority}/reasons/missing:1\nLABEL a=b\n" },
            TimeoutSeconds = 300,
        });
        Assert.StartsWith($"base-image pull of {fixture.RestUrl.Authority}/reasons/missing:1 failed (STEP 1/2: FROM ", done.FailureReason);
        Assert.True(done.FailureReason.Contains("): reasons/missing:1 does not exist in BuildGrid's registry; its last output:", StringComparison.Ordinal), done.FailureReason);
        Assert.True(done.FailureReason.Contains("name unknown", StringComparison.Ordinal), done.FailureReason);
    }

    [Fact]
    public async Task A_failing_script_quotes_its_last_lines_with_secrets_masked()
    {
        var spec = Runs.Script("for i in 1 2 3 4 5 6 7 8 9; do echo line-$i; done\necho \"token is $API_TOKEN\"\nexit 2");
        spec.Secrets["API_TOKEN"] = "s3cr3t-value-42";
        var done = await FailAsync(spec);
        Assert.Equal("build script exited with code 2; its last output:\n  > line-5\n  > line-6\n  > line-7\n  > line-8\n  > line-9\n  > token is ***",
            done.FailureReason);
    }
}
