using BuildGrid.Builds.Domain;
using BuildGrid.Builds.Queue;
using BuildGrid.Builds.Storage;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Identity;
using BuildGrid.Projects.V1;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace BuildGrid.Builds.Grpc;

/// <summary>
/// The BuildRuns gRPC API: validates a spec and hands the run to <see cref="RunLauncher"/> (SQL first, then the Redis queue).
/// Access: a run belongs to <see cref="Run.Namespace"/> (an image-market project's runs to its cluster); reading it needs
/// guest there, cancelling developer, building a project developer in its cluster. A raw spec (StartRun) runs any
/// script on a worker and pushes anywhere: administrators only.
/// </summary>
public sealed class BuildRunsService(RunStore store, BuildQueue queue, RunLauncher launcher, Projects.V1.Projects.ProjectsClient projects,
    IOptions<BuildsOptions> options) : BuildRuns.BuildRunsBase
{
    const int DefaultPageSize = 10;
    const int MaxPageSize = 100;

    public override async Task<Run> StartRun(StartRunRequest request, ServerCallContext context)
    {
        Access.RequireAdmin(context);
        var spec = request.Spec ?? new RunSpec();
        RunRules.Validate(spec, options.Value.DefaultTimeoutMinutes);
        var image = spec.DockerBuild?.Image ?? "";
        var run = launcher.NewRun("spec", request.Operator, context, spec, image.Contains('/') ? image[..image.IndexOf('/')] : "");
        run.Project = request.Project;
        run.Definition = request.Definition;
        run.Service = request.Service;
        run.ServiceModule = request.ServiceModule;
        run.Tag = request.Tag;
        run.Image = spec.DockerBuild?.Image ?? "";
        return await launcher.QueueAsync(run, spec, context.CancellationToken);
    }

    public override async Task<Run> StartProjectBuild(StartProjectBuildRequest request, ServerCallContext context)
    {
        if (string.IsNullOrEmpty(request.Project))
            throw Errors.Invalid(Reasons.InvalidArgument, "project", "project is required");
        var tag = request.Tag.Length > 0 ? request.Tag : "latest";
        RunRules.ValidateTag(tag);
        // PROJECT_NOT_FOUND, INVALID_NAME and a project without a Dockerfile pass through to the caller as they are.
        var project = await projects.GetProjectAsync(new GetProjectRequest { Name = request.Project });
        Access.Require(context, project.Cluster, Role.Developer);
        var dockerfile = (await projects.RenderDockerfileAsync(new RenderDockerfileRequest { Name = project.Name })).Dockerfile;
        var image = $"{project.Cluster}/{project.Name}".ToLowerInvariant() + ":" + tag;
        var spec = new RunSpec
        {
            DockerBuild = new DockerBuild { Image = image, DockerfileContent = dockerfile, Context = "." },
            TimeoutMinutes = options.Value.DefaultTimeoutMinutes,
        };
        // The project's build context (what copy-file copies from) is checked out like any repository and built in.
        if (project.BuildContext is { } buildContext && (buildContext.GitUrl.Length > 0 || buildContext.ArchiveCheckout.Length > 0))
        {
            spec.Repos.Add(buildContext.GitUrl.Length > 0
                ? new RepoSpec { Url = buildContext.GitUrl, Branch = buildContext.GitRef, Name = "context" }
                : new RepoSpec { Url = buildContext.ArchiveCheckout, Branch = "main", Name = "context" });
            spec.DockerBuild.Context = "context";
        }
        var run = launcher.NewRun("project", request.Operator, context, spec, project.Cluster);
        run.Project = project.Name;
        run.Tag = tag;
        run.Image = image;
        return await launcher.QueueAsync(run, spec, context.CancellationToken);
    }

    public override async Task<Run> GetRun(GetRunRequest request, ServerCallContext context)
    {
        var run = await store.GetAsync(request.Id, context.CancellationToken) ?? throw Errors.NotFound(Reasons.RunNotFound, "run", request.Id);
        Access.Require(context, run.Namespace, Role.Guest);
        return run;
    }

    public override async Task<ListRunsResponse> ListRuns(ListRunsRequest request, ServerCallContext context)
    {
        if (request.Page < 0 || request.PageSize < 0)
            throw Errors.Invalid(Reasons.InvalidArgument, request.Page < 0 ? "page" : "page_size", "page and page_size must be 1 or more");
        var page = Math.Max(request.Page, 1);
        var size = request.PageSize == 0 ? DefaultPageSize : Math.Min(request.PageSize, MaxPageSize);
        var offset = (long)(page - 1) * size;
        if (offset > int.MaxValue)
            throw Errors.Invalid(Reasons.InvalidArgument, "page", "page is too large");
        var (runs, total) = await store.ListAsync(request.Project, request.Definition,
            Access.PrincipalOf(context).Where(Role.Guest), (int)offset, size, context.CancellationToken);
        return new ListRunsResponse { Runs = { runs }, Page = page, PageSize = size, TotalCount = total };
    }

    public override async Task<Run> CancelRun(CancelRunRequest request, ServerCallContext context)
    {
        var found = await store.GetAsync(request.Id, context.CancellationToken) ?? throw Errors.NotFound(Reasons.RunNotFound, "run", request.Id);
        Access.Require(context, found.Namespace, Role.Developer);
        var run = await store.RequestCancelAsync(request.Id, context.CancellationToken) ?? throw Errors.NotFound(Reasons.RunNotFound, "run", request.Id);
        if (run.State == RunState.Running)
        {
            try { await queue.RequestCancelAsync(run.Id, context.CancellationToken); }
            catch (StackExchange.Redis.RedisException) { /* the worker sees the flag at its next renewal */ }
        }
        return run;
    }

    public override async Task<ReadRunLogResponse> ReadRunLog(ReadRunLogRequest request, ServerCallContext context)
    {
        var run = await GetRun(new GetRunRequest { Id = request.Id }, context);
        var max = request.MaxLines is > 0 and <= 10_000 ? request.MaxLines : 1000;
        var lines = await store.ReadLogAsync(run.Id, Math.Max(0, request.FromLine), max, context.CancellationToken);
        var finished = RunStates.IsFinished(run.State);
        return new ReadRunLogResponse { Lines = { lines }, State = run.State, Complete = finished && lines.Count < max };
    }

    public override async Task WatchRunLog(WatchRunLogRequest request, IServerStreamWriter<LogLine> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var run = await GetRun(new GetRunRequest { Id = request.Id }, context);
        var next = Math.Max(0, request.FromLine);
        using var appended = new SemaphoreSlim(0, int.MaxValue);
        IAsyncDisposable? watch = null;
        try
        {
            try { watch = await queue.WatchLogAsync(run.Id, () => appended.Release(), ct); }
            catch (StackExchange.Redis.RedisException) { /* poll only */ }
            while (!ct.IsCancellationRequested)
            {
                var finishedBefore = RunStates.IsFinished((await store.GetAsync(run.Id, ct))!.State);
                var lines = await store.ReadLogAsync(run.Id, next, 1000, ct);
                foreach (var line in lines)
                {
                    await responseStream.WriteAsync(line, ct);
                    next = line.Number + 1;
                }
                if (lines.Count == 1000)
                    continue;
                // Lines are stored before the end is recorded, so once finished, an empty read means the log is complete.
                if (finishedBefore && lines.Count == 0)
                    return;
                await appended.WaitAsync(TimeSpan.FromSeconds(1), ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            if (watch is not null)
                await watch.DisposeAsync();
        }
    }
}
