using BuildGrid.Core.Clients;
using BuildGrid.Core.Identity;
using BuildGrid.Core.Storage;
using BuildGrid.Events.V1;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BuildGrid.Core.Events;

/// <summary>
/// The audit trail of every domain service in one place: after a write method of a <c>buildgrid.&lt;app&gt;.v1</c>
/// service succeeds, an <see cref="AuditRecorded"/> event (who, what, where, from which address, which request) goes
/// into that service's outbox, which its relay publishes like every other event (topic buildgrid.audit.recorded).
/// <para>A write is any method whose name does not start with a read verb (<see cref="ReadPrefixes"/>), so a new
/// method is audited unless it reads. The gateway's facades (<c>buildgrid.gateway.*</c>) are not audited: the domain
/// call they make is. Nor is the Identity service, which records its own writes transactionally.</para>
/// <para>Reliability: the event is written to the outbox in its own transaction right after the write's (the write's
/// store owns that one), so a crash between the two commits loses that one audit record; once in the outbox it is
/// published at least once, as every event is.</para>
/// </summary>
public sealed class AuditInterceptor(AuditTrail trail) : Interceptor
{
    /// <summary>Method-name prefixes of the calls that only read.</summary>
    public static readonly string[] ReadPrefixes =
        ["Get", "List", "Read", "Watch", "Render", "Describe", "Search", "Check", "Validate", "Verify", "Resolve", "Lookup", "Stat", "Invoke"];

    static readonly string[] ResourceFields = ["name", "id", "repository", "target_name", "project", "project_key"];

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var response = await continuation(request, context);
        if (AppOf(context.Method) is { } app)
            await RecordAsync(app, context, request as IMessage, response as IMessage);
        return response;
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var response = await continuation(requestStream, context);
        if (AppOf(context.Method) is { } app)
            await RecordAsync(app, context, null, response as IMessage);
        return response;
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        await continuation(request, responseStream, context);
        if (AppOf(context.Method) is { } app)
            await RecordAsync(app, context, request as IMessage, null);
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        await continuation(requestStream, responseStream, context);
        if (AppOf(context.Method) is { } app)
            await RecordAsync(app, context, null, null);
    }

    /// <summary>The app id of a domain write method (<c>/buildgrid.projects.v1.Projects/CreateProject</c> → projects); null otherwise.</summary>
    public static string? AppOf(string method)
    {
        if (!method.StartsWith("/buildgrid.", StringComparison.Ordinal))
            return null;
        var slash = method.LastIndexOf('/');
        var name = method[(slash + 1)..];
        if (ReadPrefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal)))
            return null;
        var app = method["/buildgrid.".Length..method.IndexOf('.', "/buildgrid.".Length)];
        // The Identity service records its own writes in the same transaction as the write (never with secrets), and its
        // Authenticate is no write at all.
        return app is "gateway" or "identity" ? null : app;
    }

    async Task RecordAsync(string app, ServerCallContext context, IMessage? request, IMessage? response)
    {
        var principal = Access.PrincipalOf(context);
        var resource = Field(response, "id") ?? ResourceFields.Select(f => Field(request, f)).FirstOrDefault(v => v is not null)
            ?? Field(response, "name") ?? "";
        var audit = trail.Entry(app, principal, context.Method, AuditNotes.NamespaceOf(context) ?? "", resource,
            Caller.ClientAddressOf(context) ?? "", Caller.RequestIdOf(context) ?? "");
        await trail.RecordAsync(app, audit);
    }

    static string? Field(IMessage? message, string name) =>
        message?.Descriptor.FindFieldByName(name) is { FieldType: FieldType.String, IsRepeated: false } field
        && field.Accessor.GetValue(message) is string { Length: > 0 } value
            ? value
            : null;
}

/// <summary>What a call's checks learned for its audit record (the namespace its write was authorized in).</summary>
public static class AuditNotes
{
    static readonly object Key = typeof(AuditNotes);

    /// <summary>Notes the namespace a check asked <paramref name="role"/> in; the one with the highest role is the write's.</summary>
    public static void Namespace(ServerCallContext context, string @namespace, Role role)
    {
        if (!context.UserState.TryGetValue(Key, out var value) || value is not (string, Role previous) || role >= previous)
            context.UserState[Key] = (@namespace, role);
    }

    public static string? NamespaceOf(ServerCallContext context) =>
        context.UserState.TryGetValue(Key, out var value) && value is (string @namespace, Role) ? @namespace : null;
}

static partial class AuditLog
{
    [LoggerMessage(60, LogLevel.Error, "Audit: the record of {Method} by {Principal} could not be written to the outbox")]
    public static partial void RecordFailed(ILogger logger, string method, string principal, Exception exception);
}

/// <summary>
/// Writes an <see cref="AuditRecorded"/> into a service's outbox (its own transaction, after the write's), or publishes it
/// when the service has no database. For writes that are not gRPC calls too (the registry's <c>/v2/</c> pushes).
/// </summary>
public sealed class AuditTrail(IServiceProvider services, Outbox outbox, IEventPublisher publisher, TimeProvider time,
    ILogger<AuditTrail> logger)
{
    public AuditRecorded Entry(string app, Principal principal, string action, string @namespace, string resource, string remoteIp, string requestId) => new()
    {
        Id = Guid.CreateVersion7().ToString(),
        Time = Timestamp.FromDateTimeOffset(time.GetUtcNow()),
        Principal = principal.Name,
        PrincipalKind = principal.Kind.ToString().ToLowerInvariant(),
        Service = app,
        Action = action,
        Namespace = @namespace,
        Resource = resource,
        RemoteIp = remoteIp,
        RequestId = requestId,
    };

    public async Task RecordAsync(string app, AuditRecorded audit)
    {
        // The write is done: record it even if the caller has gone away meanwhile.
        try
        {
            if (services.GetKeyedService<ServiceDatabase>(app) is { } database)
            {
                await using var connection = await database.OpenAsync(CancellationToken.None);
                await using var transaction = await database.Dialect.BeginWriteAsync(connection, CancellationToken.None);
                await outbox.AddAsync(connection, transaction, audit, CancellationToken.None);
                await transaction.CommitAsync(CancellationToken.None);
                outbox.Wake(database);
            }
            else
            {
                // A service without a database of its own: published now; a failed publish is logged and lost.
                await publisher.PublishAsync(new CloudEvent(audit.Id, $"/buildgrid/{app}", AuditRecorded.Descriptor.FullName,
                    Topics.For(AuditRecorded.Descriptor), time.GetUtcNow(), JsonFormatter.Default.Format(audit), null), CancellationToken.None);
            }
        }
        catch (Exception e)
        {
            // The write itself succeeded and is committed: the caller gets its answer, the lost record is logged loudly.
            AuditLog.RecordFailed(logger, audit.Action, audit.Principal, e);
        }
    }
}
