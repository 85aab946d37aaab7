using System.Threading.Channels;
using Grpc.Core;

namespace BuildGrid.InProcess;

/// <summary>
/// The call invoker of a typed client whose service this process hosts (standalone): unary and server-streaming calls
/// run the service's handler in-process (<see cref="InProcessServices"/>) — no socket, no HTTP/2 — and everything else
/// (a method this process does not host, client or duplex streaming) goes over <paramref name="loopback"/>, the
/// client's ordinary channel to this process's own gRPC listener. The caller sees what it would see over the wire:
/// the response or an <see cref="RpcException"/> with the server's status and trailers, <c>DeadlineExceeded</c> at the
/// deadline and <c>Cancelled</c> when it cancels.
/// <para>What it saves, measured (<c>dotnet run -c Release --project tests/BuildGrid.Benchmarks -- inprocess</c>: the
/// standalone host's own Projects client, GetProject, 8 callers for 10 s, in-process and loopback h2c in ABBA order in
/// one run, on 2 cores shared with other work): 8,001 calls/s in-process against 2,181 over loopback h2c — a ratio of
/// 3.67 — and a median latency of 0.05 ms against 2.04 ms (p99: 45 ms against 29 ms).</para>
/// </summary>
public sealed class InProcessCallInvoker(InProcessServices services, string authority, CallInvoker loopback) : CallInvoker
{
    public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        services.Find(method) is null
            ? loopback.BlockingUnaryCall(method, host, options, request)
            : AsyncUnaryCall(method, host, options, request).ResponseAsync.GetAwaiter().GetResult();

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
    {
        if (services.Find(method) is not { } handler)
            return loopback.AsyncUnaryCall(method, host, options, request);
        var context = new InProcessServerCallContext(method, host ?? authority, options, services.Time);
        return new AsyncUnaryCall<TResponse>(CallAsync(handler, request, context), context.ResponseHeadersTask,
            () => context.Status, () => context.Trailers, context.Cancel);
    }

    static async Task<TResponse> CallAsync<TRequest, TResponse>(MethodHandler<TRequest, TResponse> handler, TRequest request, InProcessServerCallContext context)
        where TRequest : class where TResponse : class
    {
        if (context.CallerSideError() is { } early)
            throw early;
        try
        {
            // The caller stops waiting at its deadline or cancellation even if the service does not stop.
            return await handler.UnaryAsync(request, context).WaitAsync(context.CancellationToken);
        }
        catch (OperationCanceledException) when (context.CallerSideError() is { } error)
        {
            throw error;
        }
    }

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host,
        CallOptions options, TRequest request)
    {
        if (services.Find(method) is not { } handler)
            return loopback.AsyncServerStreamingCall(method, host, options, request);
        var context = new InProcessServerCallContext(method, host ?? authority, options, services.Time);
        // Bounded, as HTTP/2 flow control bounds it: a service that writes faster than the caller reads waits.
        var responses = Channel.CreateBounded<TResponse>(new BoundedChannelOptions(16) { SingleReader = true });
        if (context.CallerSideError() is { } early)
            responses.Writer.TryComplete(early);
        else
            _ = handler.ServerStreamingAsync(request, context, responses.Writer);
        return new AsyncServerStreamingCall<TResponse>(new ResponseReader<TResponse>(responses.Reader, context), context.ResponseHeadersTask,
            () => context.Status, () => context.Trailers, context.Cancel);
    }

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method,
        string? host, CallOptions options) => loopback.AsyncClientStreamingCall(method, host, options);

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method,
        string? host, CallOptions options) => loopback.AsyncDuplexStreamingCall(method, host, options);

    sealed class ResponseReader<TResponse>(ChannelReader<TResponse> responses, InProcessServerCallContext context) : IAsyncStreamReader<TResponse>
    {
        public TResponse Current { get; private set; } = default!;

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            try
            {
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, context.CancellationToken);
                while (await responses.WaitToReadAsync(linked.Token))
                {
                    if (responses.TryRead(out var message))
                    {
                        Current = message;
                        return true;
                    }
                }
                return false;
            }
            catch (ChannelClosedException ex) when (ex.InnerException is RpcException error)
            {
                throw error;
            }
            catch (OperationCanceledException)
            {
                throw context.CallerSideError() ?? new RpcException(new Status(StatusCode.Cancelled, "Call canceled by the client."));
            }
        }
    }
}
