using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace BuildGrid.InProcess;

/// <summary>
/// The server side of one in-process call: the caller's metadata as request headers, its deadline (timed on the
/// <see cref="TimeProvider"/> of <see cref="InProcessServices"/>), a cancellation that fires on the caller's
/// cancellation, the deadline or the caller disposing the call; a fresh user state. Public so that code which reads
/// a call's HTTP request can tell that an in-process call has none.
/// </summary>
public sealed class InProcessServerCallContext : ServerCallContext
{
    readonly string method;
    readonly string host;
    readonly Metadata requestHeaders;
    readonly DateTime deadline;
    readonly TimeProvider time;
    readonly CancellationTokenSource cancellation;
    readonly ITimer? deadlineTimer;
    readonly CancellationToken token;
    readonly CancellationToken callerToken;
    bool disposedByCaller;
    Activity? activity;
    readonly TaskCompletionSource<Metadata> responseHeaders = new(TaskCreationOptions.RunContinuationsAsynchronously);
    Metadata? responseTrailers;

    internal InProcessServerCallContext(IMethod method, string host, CallOptions options, TimeProvider time)
    {
        this.time = time;
        this.method = method.FullName;
        this.host = host;
        requestHeaders = [];
        foreach (var entry in options.Headers ?? [])
            requestHeaders.Add(entry);
        deadline = options.Deadline?.ToUniversalTime() ?? DateTime.MaxValue;
        callerToken = options.CancellationToken;
        cancellation = CancellationTokenSource.CreateLinkedTokenSource(callerToken);
        token = cancellation.Token;
        if (deadline == DateTime.MaxValue)
            return;
        // The deadline is the caller's, on the wall clock gRPC deadlines are set on; the timer runs on the same clock.
        var left = deadline - time.GetUtcNow().UtcDateTime;
        if (left <= TimeSpan.Zero)
            cancellation.Cancel();
        else if (left < TimeSpan.FromMilliseconds(int.MaxValue - 1))
            deadlineTimer = time.CreateTimer(static state => ((InProcessServerCallContext)state!).Expire(), this, left, Timeout.InfiniteTimeSpan);
    }

    void Expire()
    {
        try
        {
            cancellation.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The server side finished meanwhile.
        }
    }

    internal Task<Metadata> ResponseHeadersTask => responseHeaders.Task;
    internal Metadata Trailers => responseTrailers ??= [];
    internal bool IsCancelledByCaller => callerToken.IsCancellationRequested;
    internal bool IsPastDeadline => deadline != DateTime.MaxValue && time.GetUtcNow().UtcDateTime >= deadline;

    /// <summary>Ends the call from the caller's side (the call was disposed before it finished).</summary>
    internal void Cancel()
    {
        disposedByCaller = true;
        try
        {
            cancellation.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The server side finished meanwhile.
        }
    }

    /// <summary>The server side finished: its deadline timer and the link to the caller's token go.</summary>
    internal void Complete()
    {
        deadlineTimer?.Dispose();
        cancellation.Dispose();
    }

    /// <summary>The status a caller sees once the server side stopped: the caller's cancellation and the deadline come first, as over the wire.</summary>
    internal RpcException? CallerSideError() =>
        IsCancelledByCaller || disposedByCaller ? new RpcException(new Status(StatusCode.Cancelled, "Call canceled by the client."))
        // Cancelled neither by the caller nor by disposing the call: the deadline's timer (which may fire a little early).
        : token.IsCancellationRequested || IsPastDeadline ? new RpcException(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded"))
        : null;

    internal Activity? StartActivity()
    {
        var activity = this.activity = InProcessServices.Source.StartActivity(method.TrimStart('/'), ActivityKind.Server);
        if (activity is null)
            return null;
        var slash = method.LastIndexOf('/');
        activity.SetTag("rpc.system", "grpc");
        activity.SetTag("rpc.service", method[1..slash]);
        activity.SetTag("rpc.method", method[(slash + 1)..]);
        activity.SetTag("url.path", method);
        activity.SetTag("network.transport", "inproc");
        // What an HTTP client would have sent: a service that forwards trace headers continues this span.
        for (var i = requestHeaders.Count - 1; i >= 0; i--)
        {
            if (requestHeaders[i].Key is "traceparent" or "tracestate")
                requestHeaders.RemoveAt(i);
        }
        DistributedContextPropagator.Current.Inject(activity, requestHeaders,
            static (carrier, name, value) => ((Metadata)carrier!).Add(name, value ?? ""));
        return activity;
    }

    internal void SendResponseHeaders() => responseHeaders.TrySetResult([]);

    internal void EndWithStatus()
    {
        responseHeaders.TrySetResult([]);
        activity?.SetTag("rpc.grpc.status_code", (int)StatusCore.StatusCode);
        if (StatusCore.StatusCode != StatusCode.OK)
            throw new RpcException(StatusCore, Trailers);
    }

    /// <summary>What grpc-dotnet's server does with a handler's exception, returned as the caller's exception.</summary>
    internal RpcException EndWithError(Exception ex, bool detailedErrors, ILogger logger)
    {
        responseHeaders.TrySetResult([]);
        RpcException error;
        if (ex is RpcException rpc)
        {
            Log.InProcessCallFailed(logger, method, rpc.StatusCode, rpc.Status.Detail);
            foreach (var entry in rpc.Trailers)
                Trailers.Add(entry);
            error = new RpcException(rpc.Status, Trailers);
        }
        else
        {
            if (ex is OperationCanceledException && token.IsCancellationRequested)
                Log.InProcessCallCanceled(logger, method);
            else
                Log.InProcessCallError(logger, method, ex);
            var message = detailedErrors ? $"Exception was thrown by handler. {ex.GetType().Name}: {ex.Message}" : "Exception was thrown by handler.";
            error = new RpcException(new Status(StatusCode.Unknown, message), Trailers);
        }
        StatusCore = error.Status;
        activity?.SetTag("rpc.grpc.status_code", (int)error.StatusCode);
        activity?.SetStatus(ActivityStatusCode.Error, error.Status.Detail);
        return CallerSideError() ?? error;
    }

    protected override string MethodCore => method;
    protected override string HostCore => host;
    protected override string PeerCore => "inproc";
    protected override DateTime DeadlineCore => deadline;
    protected override Metadata RequestHeadersCore => requestHeaders;
    protected override CancellationToken CancellationTokenCore => token;
    protected override Metadata ResponseTrailersCore => Trailers;
    protected override Status StatusCore { get; set; }
    protected override WriteOptions? WriteOptionsCore { get; set; }
    protected override AuthContext AuthContextCore { get; } = new(null, []);

    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) =>
        throw new NotSupportedException("Context propagation tokens are not supported by in-process calls.");

    protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders)
    {
        if (!this.responseHeaders.TrySetResult(responseHeaders))
            throw new InvalidOperationException("Response headers can only be sent once per call.");
        return Task.CompletedTask;
    }
}
