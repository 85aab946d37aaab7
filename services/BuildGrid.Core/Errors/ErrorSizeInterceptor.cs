using Grpc.Core;
using Grpc.Core.Interceptors;

namespace BuildGrid.Core.Errors;

/// <summary>
/// Caps the message of every error a service answers at <see cref="Errors.MaxTextLength"/>. <see cref="Errors.Create"/>
/// already does for the errors it makes; this covers the rest (a facade's own <c>new RpcException(new Status(...))</c>
/// quoting a field), so that no error quoting a 1 MB value overflows the HTTP/2 trailers and reaches the caller as
/// Unavailable. The outermost interceptor: it sees every error the others and the handler throw.
/// </summary>
public sealed class ErrorSizeInterceptor : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try { return await continuation(request, context); }
        catch (RpcException e) when (Oversize(e)) { throw Capped(e); }
        catch (Exception e) when (Storage.DiskSpace.IsFull(e)) { throw Storage.DiskSpace.Full(); }
        catch (System.Data.Common.DbException e) when (e.IsTransient) { throw DatabaseUnavailable(e); }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try { await continuation(request, responseStream, context); }
        catch (RpcException e) when (Oversize(e)) { throw Capped(e); }
        catch (Exception e) when (Storage.DiskSpace.IsFull(e)) { throw Storage.DiskSpace.Full(); }
        catch (System.Data.Common.DbException e) when (e.IsTransient) { throw DatabaseUnavailable(e); }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try { return await continuation(requestStream, context); }
        catch (RpcException e) when (Oversize(e)) { throw Capped(e); }
        catch (Exception e) when (Storage.DiskSpace.IsFull(e)) { throw Storage.DiskSpace.Full(); }
        catch (System.Data.Common.DbException e) when (e.IsTransient) { throw DatabaseUnavailable(e); }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try { await continuation(requestStream, responseStream, context); }
        catch (RpcException e) when (Oversize(e)) { throw Capped(e); }
        catch (Exception e) when (Storage.DiskSpace.IsFull(e)) { throw Storage.DiskSpace.Full(); }
        catch (System.Data.Common.DbException e) when (e.IsTransient) { throw DatabaseUnavailable(e); }
    }

    // A full disk (SQLITE_FULL from any store, ENOSPC from a file write) is caught here, where every service's calls pass,
    // rather than in each store: whichever write meets it, the caller gets INSUFFICIENT_STORAGE (ResourceExhausted),
    // which each dialect answers as "insufficient storage", instead of an Unknown that reads as a BuildGrid fault.

    /// <summary>
    /// A database that is restarting or unreachable (a transient DbException: Npgsql's broken connection or
    /// 57P01/57P03, SQL Server's transient numbers) is Unavailable (503 through the gateway) — worth a retry — not an
    /// Internal error. The request's transaction did not commit.
    /// </summary>
    static RpcException DatabaseUnavailable(System.Data.Common.DbException e)
    {
        // After a PostgreSQL restart every idle pooled connection is dead, and Npgsql only finds out when one is used:
        // drop them all at the first failure, so that the requests after the outage open fresh ones instead of failing
        // once per stale connection.
        if (e is Npgsql.NpgsqlException)
            Npgsql.NpgsqlConnection.ClearAllPools();
        return new(new Status(StatusCode.Unavailable, "The database is unavailable; try again shortly. " + Errors.Shorten(e.Message)));
    }

    static bool Oversize(RpcException e) => e.Status.Detail.Length > Errors.MaxTextLength || Redaction.HasUrlUserInfo(e.Status.Detail);

    /// <summary>
    /// The same status and trailers, the message cut to its first <see cref="Errors.MaxTextLength"/> characters and any
    /// URL's user info (a token) masked.
    /// </summary>
    static RpcException Capped(RpcException e) =>
        new(new Status(e.StatusCode, Errors.Shorten(Redaction.UrlUserInfoMasked(e.Status.Detail)), e.Status.DebugException), e.Trailers);
}
