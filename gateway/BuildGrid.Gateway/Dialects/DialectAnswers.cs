using Grpc.Core;
using Grpc.Core.Interceptors;

namespace BuildGrid.Gateway.Dialects;

/// <summary>
/// Turns every failure of a dialect's service into the dialect's own error, in one place for all its methods: input the
/// binder could not read is the dialect's bad request, its own errors (<see cref="DialectErrors.Raise"/>) pass, a domain
/// error the caller can act on is re-raised with its reason, and anything else is logged and answered as unavailable
/// or internal (never leaked). The dialect's writer then shapes the answer (<see cref="IDialectErrors"/>).
/// </summary>
internal abstract class DialectAnswers(ILogger logger) : Interceptor
{
    /// <summary>The name a call is logged by, from its method's name.</summary>
    protected abstract string CallName(string method);

    protected abstract RpcException Bad(BadBodyException exception);

    protected abstract RpcException? FromDomain(RpcException exception);

    /// <summary>The server's own fault: UNAVAILABLE when the service behind did not answer in time, else INTERNAL.</summary>
    protected abstract RpcException Failed(bool unavailable);

    protected abstract void LogFailure(ILogger logger, string call, Exception exception);

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (BadBodyException e)
        {
            throw Bad(e);
        }
        catch (RpcException e) when (DialectErrors.IsRaised(e))
        {
            throw;
        }
        catch (RpcException e) when (FromDomain(e) is { } answer)
        {
            throw answer;
        }
        catch (Exception e) when (!context.CancellationToken.IsCancellationRequested)
        {
            LogFailure(logger, CallName(context.Method[(context.Method.LastIndexOf('/') + 1)..]), e);
            throw Failed(e is RpcException { StatusCode: StatusCode.Unavailable or StatusCode.DeadlineExceeded });
        }
    }
}
