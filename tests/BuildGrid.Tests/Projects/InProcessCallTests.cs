using BuildGrid.Standalone;
using System.Collections.Concurrent;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Clients;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Identity;
using BuildGrid.Core.Hosting;
using BuildGrid.Gateway;
using BuildGrid.Projects.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using ProjectsClient = BuildGrid.Projects.V1.Projects.ProjectsClient;

namespace BuildGrid.Tests.Projects;

/// <summary>
/// Standalone BuildGrid calls the services it hosts in-process: the gateway's typed clients skip the loopback socket.
/// A server interceptor registered with <c>AddGrpc</c>, as a user of BuildGrid would, records what each call looked
/// like from the service's side; every behaviour is compared with the same call over a real h2c channel.
/// </summary>
public sealed class InProcessCallTests(InProcessCallTests.Host host) : IClassFixture<InProcessCallTests.Host>, IDisposable
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => host.AssertNoErrorsLogged();

    /// <summary>The typed client the gateway itself gets from DI, and one over the loopback h2c channel to the same host.</summary>
    ProjectsClient InProcess => host.App.Services.GetRequiredService<ProjectsClient>();
    ProjectsClient Wire => new(host.Channel);

    [Fact]
    public async Task A_rest_call_reaches_the_service_in_process_with_its_metadata_and_identity()
    {
        Assert.True(host.App.Services.GetRequiredService<ServiceAddresses>().RouteOf("projects").InProcess);
        var name = ImageMarketApi.UniqueName("inproc");
        using var http = new HttpClient { BaseAddress = host.RestUrl };
        var api = new ImageMarketApi(http);
        Assert.Equal(10000, (await api.NewAsync(name, "ann")).Code);

        var requestId = Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/project/info?projectName={name}&operator=ann");
        request.Headers.Add(Caller.RequestIdHeader, requestId);
        var info = await ImageMarketApi.ReadAsync(await http.SendAsync(request, Ct));
        Assert.Equal(name, info.Content.GetProperty("name").GetString());

        // The recorder sees the transcoded REST call itself, then the gateway's call of the Projects service.
        var calls = host.Recorder.CallsWith(Caller.RequestIdHeader, requestId).ToList();
        Assert.Equal(["/buildgrid.gateway.imagemarket.v1.ImageMarket/ProjectInfo", "/buildgrid.projects.v1.Projects/GetProject"], calls.Select(c => c.Method));
        var call = calls[1];
        Assert.Equal("inproc", call.Peer);
        Assert.NotNull(call.Headers.GetValue(ServiceTokens.Header));   // the gateway's signed identity, verified by PrincipalInterceptor
        Assert.Equal(0, call.UserStateAtStart);
        Assert.Equal(Principal.Local.Name, await call.Principal.Task.WaitAsync(Ct));
    }

    [Fact]
    public async Task Errors_reach_the_caller_as_over_the_wire()
    {
        var missing = ImageMarketApi.UniqueName("missing");
        var local = await Assert.ThrowsAsync<RpcException>(() => InProcess.GetProjectAsync(new GetProjectRequest { Name = missing }, cancellationToken: Ct).ResponseAsync);
        var wire = await Assert.ThrowsAsync<RpcException>(() => Wire.GetProjectAsync(new GetProjectRequest { Name = missing }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, local.StatusCode);
        Assert.Equal(Reasons.ProjectNotFound, local.Info()?.Reason);
        Assert.Equal((wire.StatusCode, wire.Status.Detail, wire.Info()?.Reason, wire.Info()?.Metadata["id"]),
            (local.StatusCode, local.Status.Detail, local.Info()?.Reason, local.Info()?.Metadata["id"]));

        // A request the interceptor of identity refuses: wrong credentials are refused before the service runs.
        var headers = new Metadata { { "authorization", "Bearer not-a-token" } };
        var refusedLocal = await Assert.ThrowsAsync<RpcException>(() => InProcess.GetProjectAsync(new GetProjectRequest { Name = missing }, headers, cancellationToken: Ct).ResponseAsync);
        var refusedWire = await Assert.ThrowsAsync<RpcException>(() => Wire.GetProjectAsync(new GetProjectRequest { Name = missing }, headers, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, refusedLocal.StatusCode);
        Assert.Equal((refusedWire.StatusCode, refusedWire.Status.Detail), (refusedLocal.StatusCode, refusedLocal.Status.Detail));
    }

    [Fact]
    public async Task Metadata_arrives_as_request_headers_and_each_call_has_its_own_user_state()
    {
        var name = ImageMarketApi.UniqueName("meta");
        await InProcess.CreateProjectAsync(new CreateProjectRequest { Name = name, Operator = "ann" }, cancellationToken: Ct);
        foreach (var (client, peer) in new[] { (InProcess, "inproc"), (Wire, "ipv4:") })
        {
            for (var i = 0; i < 2; i++)
            {
                var id = Guid.NewGuid().ToString("N");
                var headers = new Metadata { { "x-test-id", id }, { "x-custom-bin", [1, 2, 3] } };
                Assert.Equal(name, (await client.GetProjectAsync(new GetProjectRequest { Name = name }, headers, cancellationToken: Ct)).Name);
                var call = Assert.Single(host.Recorder.CallsWith("x-test-id", id));
                Assert.StartsWith(peer, call.Peer);
                Assert.Equal([1, 2, 3], call.Headers.GetValueBytes("x-custom-bin"));
                Assert.Equal(0, call.UserStateAtStart);
                Assert.Equal(Principal.Local.Name, await call.Principal.Task.WaitAsync(Ct));
            }
        }
    }

    [Fact]
    public async Task The_service_gets_a_copy_of_the_request_never_the_callers_object()
    {
        var name = ImageMarketApi.UniqueName("copy");
        await InProcess.CreateProjectAsync(new CreateProjectRequest { Name = name, Operator = "ann" }, cancellationToken: Ct);
        var request = new GetProjectRequest { Name = name };
        // The recorder renames the request it is given, and the service then looks for a project that does not exist.
        var e = await Assert.ThrowsAsync<RpcException>(() => InProcess.GetProjectAsync(request, new Metadata { { "x-test-mutate", "1" } }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.Equal(name, request.Name);
        Assert.Equal(name, (await InProcess.GetProjectAsync(request, cancellationToken: Ct)).Name);
    }

    [Fact]
    public async Task Deadlines_and_cancellation_end_the_call_on_both_sides()
    {
        foreach (var client in new[] { InProcess, Wire })
        {
            // The recorder holds a call marked x-test-hold until the call's own cancellation token fires.
            var id = Guid.NewGuid().ToString("N");
            var hold = new Metadata { { "x-test-hold", "1" }, { "x-test-id", id } };
            var late = await Assert.ThrowsAsync<RpcException>(() => client.GetProjectAsync(new GetProjectRequest { Name = "x" }, hold,
                DateTime.UtcNow.AddMilliseconds(300), Ct).ResponseAsync);
            Assert.Equal(StatusCode.DeadlineExceeded, late.StatusCode);
            await Assert.Single(host.Recorder.CallsWith("x-test-id", id)).Cancelled.Task.WaitAsync(Ct);

            id = Guid.NewGuid().ToString("N");
            hold = new Metadata { { "x-test-hold", "1" }, { "x-test-id", id } };
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var pending = client.GetProjectAsync(new GetProjectRequest { Name = "x" }, hold, cancellationToken: cancel.Token).ResponseAsync;
            var started = await Eventually.Async(() => host.Recorder.CallsWith("x-test-id", id).SingleOrDefault(), c => c is not null);
            cancel.Cancel();
            Assert.Equal(StatusCode.Cancelled, (await Assert.ThrowsAsync<RpcException>(() => pending)).StatusCode);
            await started!.Cancelled.Task.WaitAsync(Ct);
        }
    }

    [Fact]
    public async Task Server_streaming_runs_in_process_and_sees_the_same_lines()
    {
        var runs = host.App.Services.GetRequiredService<BuildRuns.BuildRunsClient>();
        var wire = new BuildRuns.BuildRunsClient(host.Channel);
        var run = await runs.StartRunAsync(new StartRunRequest { Spec = Runs.Script("for i in $(seq 1 30); do echo line-$i; done") }, cancellationToken: Ct);
        await Runs.FinishedAsync(wire, run.Id);

        async Task<List<string>> Watch(BuildRuns.BuildRunsClient client, string id)
        {
            using var call = client.WatchRunLog(new WatchRunLogRequest { Id = run.Id }, new Metadata { { "x-test-id", id } }, cancellationToken: Ct);
            var lines = new List<string>();
            await foreach (var line in call.ResponseStream.ReadAllAsync(Ct))
                lines.Add($"{line.Number}:{line.Text}");
            return lines;
        }
        var localId = Guid.NewGuid().ToString("N");
        var local = await Watch(runs, localId);
        Assert.Equal("inproc", Assert.Single(host.Recorder.CallsWith("x-test-id", localId)).Peer);
        Assert.Equal(await Watch(wire, Guid.NewGuid().ToString("N")), local);
        Assert.Equal(Enumerable.Range(1, 30).Select(i => $"line-{i}"), local.Select(l => l[(l.IndexOf(':') + 1)..]).Where(l => l.StartsWith("line-", StringComparison.Ordinal)));

        var missing = new WatchRunLogRequest { Id = Guid.NewGuid().ToString() };
        async Task<RpcException> Fail(BuildRuns.BuildRunsClient client) => await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = client.WatchRunLog(missing, cancellationToken: Ct);
            await foreach (var _ in call.ResponseStream.ReadAllAsync(Ct)) { }
        });
        var (localError, wireError) = (await Fail(runs), await Fail(wire));
        Assert.Equal((wireError.StatusCode, wireError.Status.Detail, wireError.Info()?.Reason), (localError.StatusCode, localError.Status.Detail, localError.Info()?.Reason));
    }

    [Fact]
    public async Task With_BUILDGRID_PROJECTS_URL_the_gateway_calls_the_remote_service_over_the_wire()
    {
        var gatewayData = TestDirectories.Create("gateway-remote");
        var (gateway, rest, _) = await StandaloneFixture.StartAsync(gatewayData, null, $"--BUILDGRID_PROJECTS_URL={host.GrpcUrl}");
        try
        {
            Assert.False(gateway.Services.GetRequiredService<ServiceAddresses>().RouteOf("projects").InProcess);
            using var http = new HttpClient { BaseAddress = rest };
            var api = new ImageMarketApi(http);
            var name = ImageMarketApi.UniqueName("remote");
            Assert.Equal(10000, (await api.NewAsync(name, "ann")).Code);
            var requestId = Guid.NewGuid().ToString("N");
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/project/info?projectName={name}&operator=ann");
            request.Headers.Add(Caller.RequestIdHeader, requestId);
            Assert.Equal(name, (await ImageMarketApi.ReadAsync(await http.SendAsync(request, Ct))).Content.GetProperty("name").GetString());
            // The call reached the other host's Projects service through its h2c listener.
            var call = Assert.Single(host.Recorder.CallsWith(Caller.RequestIdHeader, requestId), c => c.Method == "/buildgrid.projects.v1.Projects/GetProject");
            Assert.StartsWith("ipv4:127.0.0.1:", call.Peer);
        }
        finally
        {
            await gateway.StopAsync(Ct);
            await gateway.DisposeAsync();
            TestDirectories.TryDelete(gatewayData);
        }
    }

    /// <summary>A standalone host with <see cref="RecordingInterceptor"/> registered before BuildGrid's own interceptors.</summary>
    public sealed class Host : IAsyncLifetime
    {
        readonly string dataDir = TestDirectories.Create("inproc");
        readonly ErrorLog errors = new();
        public WebApplication App { get; private set; } = null!;
        public CallRecorder Recorder { get; } = new();
        public Uri RestUrl => App.Services.GetRequiredService<BuildGridEndpoints>().RestUri;
        public Uri GrpcUrl => App.Services.GetRequiredService<BuildGridEndpoints>().GrpcUri;
        public GrpcChannel Channel { get; private set; } = null!;

        public async ValueTask InitializeAsync()
        {
            App = BuildGridHost.Create(
            [
                "--BUILDGRID_REST_URL=http://127.0.0.1:0", "--BUILDGRID_GRPC_URL=http://127.0.0.1:0", $"--BUILDGRID_DATA_DIR={dataDir}",
                "--Logging:LogLevel:Default=Warning",
            ], builder =>
            {
                builder.Logging.AddProvider(errors);
                builder.Services.AddSingleton(Recorder);
                builder.Services.AddSingleton<RecordingInterceptor>();
                builder.Services.AddGrpc(o => o.Interceptors.Add<RecordingInterceptor>());
            });
            await App.StartAsync();
            Channel = GrpcChannel.ForAddress(GrpcUrl);
        }

        public void AssertNoErrorsLogged()
        {
            var logged = new List<string>();
            while (errors.TryTake(out var entry))
                logged.Add(entry);
            Assert.Empty(logged);
        }

        public async ValueTask DisposeAsync()
        {
            Channel?.Dispose();
            await App.StopAsync();
            await App.DisposeAsync();
            TestDirectories.TryDelete(dataDir);
        }
    }

    public sealed record RecordedCall(string Method, string Peer, Metadata Headers, int UserStateAtStart)
    {
        public TaskCompletionSource<string> Principal { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public sealed class CallRecorder
    {
        readonly ConcurrentQueue<RecordedCall> calls = new();
        public void Add(RecordedCall call) => calls.Enqueue(call);
        public IEnumerable<RecordedCall> CallsWith(string header, string value) => calls.Where(c => c.Headers.GetValue(header) == value).ToList();
    }

    /// <summary>What the service side of a call sees; on request it holds a call until its cancellation, or renames the request.</summary>
    public sealed class RecordingInterceptor(CallRecorder recorder) : Interceptor
    {
        public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
            UnaryServerMethod<TRequest, TResponse> continuation)
        {
            var call = Record(context);
            if (context.RequestHeaders.GetValue("x-test-hold") is not null)
                await Task.Delay(Timeout.Infinite, context.CancellationToken);
            if (context.RequestHeaders.GetValue("x-test-mutate") is not null && request is GetProjectRequest get)
                get.Name += "-renamed-by-the-service";
            var response = await continuation(request, context);
            call.Principal.TrySetResult(Access.PrincipalOf(context).Name);
            return response;
        }

        public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
            ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
        {
            Record(context);
            await continuation(request, responseStream, context);
        }

        RecordedCall Record(ServerCallContext context)
        {
            var headers = new Metadata();
            foreach (var entry in context.RequestHeaders)
                headers.Add(entry);
            var call = new RecordedCall(context.Method, context.Peer, headers, context.UserState.Count);
            context.CancellationToken.Register(() => call.Cancelled.TrySetResult());
            recorder.Add(call);
            return call;
        }
    }
}
