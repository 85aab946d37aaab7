using BuildGrid.Standalone;
using System.Diagnostics;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Events;
using BuildGrid.Core.Hosting;
using BuildGrid.Gateway;
using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;
using OpenTelemetry.Trace;

namespace BuildGrid.Tests.Builds;

/// <summary>One trace per build: REST → gateway → Builds service → queue → worker → event, exported in memory.</summary>
public sealed class TracingTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_build_queued_over_rest_is_one_trace_through_the_worker_and_its_events()
    {
        Tools.Require("buildah", "buildah");
        var dataDir = TestDirectories.Create("tracing");
        // The exporter adds from whichever thread ends an activity; a List read meanwhile throws "Collection was modified".
        var exported = new LockedCollection<Activity>();
        var app = BuildGridHost.Create(
        [
            "--BUILDGRID_REST_URL=http://127.0.0.1:0", "--BUILDGRID_GRPC_URL=http://127.0.0.1:0", $"--BUILDGRID_DATA_DIR={dataDir}",
            "--Logging:LogLevel:Default=Warning",
        ], builder => builder.Services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddInMemoryExporter(exported)));
        try
        {
            await app.StartAsync(Ct);
            var endpoints = app.Services.GetRequiredService<BuildGridEndpoints>();
            var finished = new List<CloudEvent>();
            using var _ = app.Services.GetRequiredService<InProcessEventBus>().Subscribe("buildgrid.build.finished",
                (e, _) => { lock (finished) finished.Add(e); return Task.CompletedTask; });

            using var http = new HttpClient { BaseAddress = endpoints.RestUri };
            var api = new ImageMarketApi(http);
            Assert.Equal(10000, (await api.PostJsonAsync("/api/project/save", new Dictionary<string, object>
            {
                ["project"] = "traced", ["addOrUpdate"] = "add", ["DefineDockerFileType"] = "define", ["Dockerfile"] = "FROM scratch\nLABEL traced=yes\n",
            })).Code);
            var id = (await api.PostJsonAsync("/api/project/build", new { projectName = "traced", tag = "1" })).Content.GetProperty("idStr").GetString()!;
            using var channel = GrpcChannel.ForAddress(endpoints.GrpcUri);
            Assert.Equal(RunState.Succeeded, (await Runs.FinishedAsync(new BuildRuns.BuildRunsClient(channel), id, 120)).State);

            Activity Find(Func<Activity, bool> match) => Eventually.Async(() => { lock (exported) return exported.FirstOrDefault(match); }, a => a is not null)
                .GetAwaiter().GetResult()!;
            var worker = Find(a => a.OperationName == "build.run" && (string?)a.GetTagItem("buildgrid.run.id") == id);
            var rest = Find(a => a.Kind == ActivityKind.Server && a.GetTagItem("url.path") as string == "/api/project/build");
            var service = Find(a => a.Kind == ActivityKind.Server && (a.GetTagItem("url.path") as string ?? "").EndsWith("/StartProjectBuild", StringComparison.Ordinal));
            Assert.Equal(rest.TraceId, service.TraceId);
            Assert.Equal(rest.TraceId, worker.TraceId);
            Assert.Equal("succeeded", worker.GetTagItem("buildgrid.run.status"));

            var evt = await Eventually.Async(() => { lock (finished) return finished.FirstOrDefault(e => e.Data.Contains(id)); }, e => e is not null);
            Assert.Contains(rest.TraceId.ToHexString(), evt!.TraceParent);
        }
        finally
        {
            await app.StopAsync(Ct);
            await app.DisposeAsync();
            TestDirectories.TryDelete(dataDir);
        }
    }

    /// <summary>A collection whose adds take the lock on itself, which the test's reads take too.</summary>
    sealed class LockedCollection<T> : System.Collections.ObjectModel.Collection<T>
    {
        protected override void InsertItem(int index, T item)
        {
            lock (this)
                base.InsertItem(index, item);
        }
    }
}
