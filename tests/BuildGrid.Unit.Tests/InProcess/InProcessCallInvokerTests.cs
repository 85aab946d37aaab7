using BuildGrid.Builds.V1;
using BuildGrid.InProcess;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace BuildGrid.Unit.Tests.InProcess;

/// <summary>
/// The in-process invoker through a real generated client (<see cref="BuildRuns.BuildRunsClient"/>) against a service
/// mapped with <c>MapGrpcService</c>, as a process that hosts it would: no listener is started, every call must stay in
/// the process. The clock is a <see cref="FakeTimeProvider"/>, so a deadline passes when the test says so.
/// </summary>
public sealed class InProcessCallInvokerTests : IAsyncDisposable
{
    readonly WebApplication app;
    readonly FakeTimeProvider clock = new(new DateTimeOffset(2026, 12, 4, 12, 0, 0, TimeSpan.Zero));
    readonly BuildRuns.BuildRunsClient client;
    readonly GrpcChannel unusedLoopback = GrpcChannel.ForAddress("http://127.0.0.1:9");

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public InProcessCallInvokerTests()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton<TimeProvider>(clock);
        builder.Services.AddSingleton<Seen>();
        app = builder.Build();
        app.MapGrpcService<FakeRuns>();
        // The endpoints as mapped, without starting the host (which would compose them into routing at its start).
        var endpoints = new CompositeEndpointDataSource(((IEndpointRouteBuilder)app).DataSources);
        var services = ActivatorUtilities.CreateInstance<InProcessServices>(app.Services, endpoints);
        // Unary and server-streaming calls never reach the loopback channel: its port has no listener.
        client = new BuildRuns.BuildRunsClient(new InProcessCallInvoker(services, "runs.test", unusedLoopback.CreateCallInvoker()));
    }

    public async ValueTask DisposeAsync()
    {
        unusedLoopback.Dispose();
        await app.DisposeAsync();
    }

    Seen Probe => app.Services.GetRequiredService<Seen>();

    [Fact]
    public async Task A_unary_call_runs_the_service_with_the_callers_metadata_and_answers_a_copy()
    {
        var request = new GetRunRequest { Id = "r1" };
        using var call = client.GetRunAsync(request, new Metadata { { "x-operator", "ann" } }, cancellationToken: Ct);
        var run = await call.ResponseAsync;

        Assert.Equal("r1", run.Id);
        Assert.Equal("ann", run.Operator);
        Assert.Equal("inproc", run.Worker);   // the server saw the in-process peer, not a socket
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        // The service's response and the caller's request are copies: neither side sees the other's later changes.
        run.Id = "changed";
        request.Id = "changed";
        Assert.Equal("r1", Probe.LastResponse!.Id);
        Assert.Equal("r1", Probe.LastRequest!.Id);
    }

    [Fact]
    public async Task A_server_streaming_call_delivers_every_message_in_order_then_ends()
    {
        using var call = client.WatchRunLog(new WatchRunLogRequest { Id = "r2", FromLine = 3 }, cancellationToken: Ct);
        var lines = new List<LogLine>();
        await foreach (var line in call.ResponseStream.ReadAllAsync(Ct))
            lines.Add(line);

        Assert.Equal([3L, 4L, 5L, 6L, 7L], lines.Select(l => l.Number));
        Assert.All(lines, l => Assert.Equal($"r2 line {l.Number}", l.Text));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task A_thrown_RpcException_reaches_the_caller_with_its_status_and_trailers()
    {
        using var call = client.GetRunAsync(new GetRunRequest { Id = "missing" }, cancellationToken: Ct);
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);

        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.Equal("run 'missing' not found", e.Status.Detail);
        Assert.Equal("RUN_NOT_FOUND", e.Trailers.GetValue("x-reason"));
        Assert.Equal(StatusCode.NotFound, call.GetStatus().StatusCode);
        Assert.Equal("RUN_NOT_FOUND", call.GetTrailers().GetValue("x-reason"));
    }

    [Fact]
    public async Task An_RpcException_after_some_streamed_messages_ends_the_stream_with_its_status()
    {
        using var call = client.WatchRunLog(new WatchRunLogRequest { Id = "broken" }, cancellationToken: Ct);
        Assert.True(await call.ResponseStream.MoveNext(Ct));
        Assert.Equal(0, call.ResponseStream.Current.Number);
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(Ct));

        Assert.Equal(StatusCode.DataLoss, e.StatusCode);
        Assert.Equal("log truncated", e.Trailers.GetValue("x-reason"));
    }

    [Fact]
    public async Task Any_other_exception_is_Unknown_without_its_message_as_over_the_wire()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => client.GetRunAsync(new GetRunRequest { Id = "crash" }, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.Unknown, e.StatusCode);
        Assert.Equal("Exception was thrown by handler.", e.Status.Detail);
    }

    [Fact]
    public async Task The_deadline_ends_the_call_with_DeadlineExceeded_and_cancels_the_service()
    {
        using var call = client.GetRunAsync(new GetRunRequest { Id = "hang" }, deadline: clock.GetUtcNow().UtcDateTime.AddSeconds(5), cancellationToken: Ct);
        await Probe.Started.Task.WaitAsync(Ct);
        clock.Advance(TimeSpan.FromSeconds(4));
        Assert.False(call.ResponseAsync.IsCompleted);

        clock.Advance(TimeSpan.FromSeconds(1));
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
        Assert.True(await Probe.Cancelled.Task.WaitAsync(Ct));
    }

    [Fact]
    public async Task A_deadline_already_past_fails_before_the_service_runs()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            client.GetRunAsync(new GetRunRequest { Id = "r3" }, deadline: clock.GetUtcNow().UtcDateTime.AddSeconds(-1), cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
        Assert.Null(Probe.LastRequest);
    }

    [Fact]
    public async Task The_callers_cancellation_ends_the_call_with_Cancelled_and_cancels_the_service()
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        using var call = client.GetRunAsync(new GetRunRequest { Id = "hang" }, cancellationToken: cancel.Token);
        await Probe.Started.Task.WaitAsync(Ct);

        await cancel.CancelAsync();
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        Assert.True(await Probe.Cancelled.Task.WaitAsync(Ct));
    }

    [Fact]
    public async Task Cancelling_a_stream_part_way_ends_the_read_with_Cancelled()
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        using var call = client.WatchRunLog(new WatchRunLogRequest { Id = "endless" }, cancellationToken: cancel.Token);
        Assert.True(await call.ResponseStream.MoveNext(Ct));

        await cancel.CancelAsync();
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(Ct)) { }
        });
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        Assert.True(await Probe.Cancelled.Task.WaitAsync(Ct));
    }

    /// <summary>What the service saw, for the tests to check.</summary>
    sealed class Seen
    {
        public GetRunRequest? LastRequest;
        public Run? LastResponse;
        public readonly TaskCompletionSource Started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly TaskCompletionSource<bool> Cancelled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>A BuildRuns service whose behaviour the run id chooses.</summary>
    sealed class FakeRuns(Seen probe) : BuildRuns.BuildRunsBase
    {
        public override async Task<Run> GetRun(GetRunRequest request, ServerCallContext context)
        {
            probe.LastRequest = request;
            switch (request.Id)
            {
                case "missing":
                    throw new RpcException(new Status(StatusCode.NotFound, $"run '{request.Id}' not found"), new Metadata { { "x-reason", "RUN_NOT_FOUND" } });
                case "crash":
                    throw new InvalidOperationException("a secret the caller must not see");
                case "hang":
                    await WaitForCancellationAsync(context.CancellationToken);
                    break;
            }
            var run = new Run { Id = request.Id, Operator = context.RequestHeaders.GetValue("x-operator") ?? "", Worker = context.Peer };
            probe.LastResponse = run;
            return run;
        }

        public override async Task WatchRunLog(WatchRunLogRequest request, IServerStreamWriter<LogLine> responseStream, ServerCallContext context)
        {
            switch (request.Id)
            {
                case "broken":
                    await responseStream.WriteAsync(new LogLine { Number = 0, Text = "first" });
                    throw new RpcException(new Status(StatusCode.DataLoss, "the log file went away"), new Metadata { { "x-reason", "log truncated" } });
                case "endless":
                    try
                    {
                        for (var i = 0L; ; i++)
                            await responseStream.WriteAsync(new LogLine { Number = i }, context.CancellationToken);
                    }
                    catch (OperationCanceledException)
                    {
                        probe.Cancelled.TrySetResult(true);
                        throw;
                    }
                default:
                    for (var i = request.FromLine; i < request.FromLine + 5; i++)
                        await responseStream.WriteAsync(new LogLine { Number = i, Text = $"{request.Id} line {i}" });
                    return;
            }
        }

        async Task WaitForCancellationAsync(CancellationToken cancellationToken)
        {
            probe.Started.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                probe.Cancelled.TrySetResult(true);
                throw;
            }
        }
    }
}
