using BuildGrid.Core.Clients;
using Grpc.Core.Interceptors;
using System.Net;
using System.Text.Json;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Hosting;
using BuildGrid.Core.Identity;
using BuildGrid.Projects.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;

namespace BuildGrid.Tests.Builds;

/// <summary>
/// Password mode (an admin password and a service key: no call without credentials is the admin). A private base image
/// in BuildGrid's registry is the base of image-market project builds: the run of a developer who may read it pulls it
/// with a token of theirs and succeeds; the run of someone who may not fails, and its failure reason says why. The
/// run's live log over REST (SSE) needs the same credentials as the run.
/// </summary>
public sealed class PrivateBaseImageTests
{
    const string Password = "Adm1n-pa55word";
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    static Metadata Admin => new() { { "authorization", "Basic " + Convert.ToBase64String("admin:Adm1n-pa55word"u8.ToArray()) } };

    [Fact]
    public async Task A_private_base_works_for_who_may_read_it_and_fails_saying_why_for_who_may_not()
    {
        Tools.Require("buildah", "buildah");
        await using var host = await OwnedHost.StartAsync("private-base", $"--BUILDGRID_ADMIN_PASSWORD={Password}", "--BUILDGRID_SERVICE_KEY=private-base-key");
        var signer = new ServiceTokens(IdentitySettings.From(host.App.Configuration, host.App.Services.GetRequiredService<BuildGridSettings>()), TimeProvider.System);
        static Metadata As(Principal p) => Caller.OnBehalfOf(new Metadata(), p, null);
        using var channel = GrpcChannel.ForAddress(host.GrpcUrl);
        var invoker = channel.Intercept(new ServiceIdentityInterceptor(signer));
        var runs = new BuildRuns.BuildRunsClient(invoker);
        var projects = new BuildGrid.Projects.V1.Projects.ProjectsClient(invoker);
        var registry = host.RestUrl.Authority;

        var baseRun = await runs.StartRunAsync(new StartRunRequest
        {
            Spec = new RunSpec
            {
                Script = "echo private > secret.txt",
                DockerBuild = new DockerBuild { Image = "vault/base:1", DockerfileContent = "FROM scratch\nCOPY secret.txt /secret.txt\n" },
                TimeoutSeconds = 300,
            },
        }, Admin, cancellationToken: Ct);
        var based = await Runs.FinishedAsync(runs, baseRun.Id, 180, Admin);
        Assert.True(based.State == RunState.Succeeded, $"{based.State}: {based.FailureReason}");

        // Without credentials the base is not there for anyone (private by default).
        using (var anonymous = new HttpClient { BaseAddress = host.RestUrl })
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v2/vault/base/manifests/1", Ct)).StatusCode);

        var reader = Principal.User("rita", isAdmin: false, new Dictionary<string, Role> { ["vault"] = Role.Guest, ["apps"] = Role.Developer });
        var stranger = Principal.User("sam", isAdmin: false, new Dictionary<string, Role> { ["others"] = Role.Developer });
        // The registry re-checks a pull token's user against the identity: both are real users with these roles.
        var identity = new BuildGrid.Identity.V1.Identity.IdentityClient(channel);
        foreach (var (user, bindings) in new[] { (reader, new[] { ("vault", BuildGrid.Identity.V1.Role.Guest), ("apps", BuildGrid.Identity.V1.Role.Developer) }),
                     (stranger, new[] { ("others", BuildGrid.Identity.V1.Role.Developer) }) })
        {
            await identity.CreateUserAsync(new BuildGrid.Identity.V1.CreateUserRequest { Name = user.Name, Password = user.Name + "-Pa55word-x" }, Admin, cancellationToken: Ct);
            foreach (var (ns, role) in bindings)
                await identity.GrantRoleAsync(new BuildGrid.Identity.V1.GrantRoleRequest { Namespace = ns, Principal = user.Name, Role = role }, Admin, cancellationToken: Ct);
        }
        var readerRun = await ProjectBuildAsync(projects, runs, As(reader), "apps", $"FROM {registry}/vault/base:1\nLABEL by=rita\n");
        var readerDone = await Runs.FinishedAsync(runs, readerRun.Id, 180, Admin);
        Assert.True(readerDone.State == RunState.Succeeded, $"{readerDone.State}: {readerDone.FailureReason}\n{await Runs.LogAsync(runs, readerRun.Id, Admin)}");
        Assert.Contains("pulling vault/base as rita", await Runs.LogAsync(runs, readerRun.Id, Admin));

        var strangerRun = await ProjectBuildAsync(projects, runs, As(stranger), "others", $"FROM {registry}/vault/base:1\nLABEL by=sam\n");
        var strangerDone = await Runs.FinishedAsync(runs, strangerRun.Id, 180, Admin);
        Assert.Equal(RunState.Failed, strangerDone.State);
        Assert.True(strangerDone.FailureReason.StartsWith($"base-image pull of {registry}/vault/base:1 failed", StringComparison.Ordinal), strangerDone.FailureReason);
        Assert.StartsWith($"base-image pull of {registry}/vault/base:1 failed (STEP 1/2: FROM {registry}/vault/base:1)", strangerDone.FailureReason);
        Assert.True(strangerDone.FailureReason.Contains("sam, who queued the run, may not read vault/base", StringComparison.Ordinal), strangerDone.FailureReason);
        Assert.Contains("its last output:\n  > ", strangerDone.FailureReason);   // buildah's own words, quoted
        Assert.DoesNotContain("eyJ", strangerDone.FailureReason);
        Assert.DoesNotContain("eyJ", await Runs.LogAsync(runs, strangerRun.Id, Admin));

        // The same run's log over REST: its credentials are needed, and the stream ends with the failure.
        using var http = new HttpClient { BaseAddress = host.RestUrl };
        using (var noCredentials = await http.GetAsync($"/buildgrid/v1/runs/{strangerRun.Id}/log?follow=true", HttpCompletionOption.ResponseHeadersRead, Ct))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, noCredentials.StatusCode);
            Assert.Equal(16, JsonDocument.Parse(await noCredentials.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("code").GetInt32());
        }
        using (var otherUser = new HttpRequestMessage(HttpMethod.Get, $"/buildgrid/v1/runs/{strangerRun.Id}/log?follow=true"))
        {
            otherUser.Headers.Add(ServiceTokens.Header, signer.SignClass(reader, "builds", write: false, clientAddress: null));
            using var denied = await http.SendAsync(otherUser, HttpCompletionOption.ResponseHeadersRead, Ct);
            Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        }
        using var own = new HttpRequestMessage(HttpMethod.Get, $"/buildgrid/v1/runs/{strangerRun.Id}/log?follow=true");
        own.Headers.Add(ServiceTokens.Header, signer.SignClass(stranger, "builds", write: false, clientAddress: null));
        using var followed = await http.SendAsync(own, HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(HttpStatusCode.OK, followed.StatusCode);
        var events = new List<ServerSentEvents.Event>();
        await foreach (var e in ServerSentEvents.ReadAsync(await followed.Content.ReadAsStreamAsync(Ct), Ct))
            events.Add(e);
        var end = events[^1];
        Assert.Equal("end", end.Type);
        var ended = JsonDocument.Parse(end.Data).RootElement;
        Assert.Equal("RUN_STATE_FAILED", ended.GetProperty("state").GetString());
        Assert.Equal(strangerDone.FailureReason, ended.GetProperty("failureReason").GetString());
    }

    static async Task<Run> ProjectBuildAsync(BuildGrid.Projects.V1.Projects.ProjectsClient projects, BuildRuns.BuildRunsClient runs, Metadata caller,
        string cluster, string dockerfile)
    {
        var name = $"img{Guid.NewGuid().ToString("N")[..10]}";
        await projects.SaveProjectAsync(new SaveProjectRequest
        {
            Name = name, Cluster = cluster, Mode = SaveProjectRequest.Types.Mode.Add, DockerfileType = DockerfileType.Define, Dockerfile = dockerfile,
        }, caller, cancellationToken: Ct);
        return await runs.StartProjectBuildAsync(new StartProjectBuildRequest { Project = name, Tag = "1" }, caller, cancellationToken: Ct);
    }
}
