using BuildGrid.Core.Identity;
using Grpc.Core;

namespace BuildGrid.Core.Clients;

/// <summary>
/// What a call made on behalf of another carries on: the caller's identity, signed (<see cref="ServiceTokens"/>), the
/// request id and the trace context.
/// </summary>
public static class Caller
{
    public const string UserHeader = "x-buildgrid-user";
    public const string RequestIdHeader = "x-request-id";

    /// <summary>How long a call to another service may take: transcoded REST calls carry no deadline of their own.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    static readonly string[] Forwarded = [UserHeader, RequestIdHeader, "traceparent", "tracestate"];

    public static string? UserOf(ServerCallContext context) =>
        context.RequestHeaders.GetValue(UserHeader) is { Length: > 0 and <= 64 } user ? user : null;

    /// <summary>The metadata of an incoming call (or REST request) that an outgoing call should carry on.</summary>
    public static Metadata Forward(ServerCallContext context)
    {
        var metadata = new Metadata();
        foreach (var entry in context.RequestHeaders)
        {
            if (!entry.IsBinary && Array.IndexOf(Forwarded, entry.Key) >= 0)
                metadata.Add(entry.Key, entry.Value);
        }
        if (Access.TokenOf(context) is { } identity)
            metadata.Add(ServiceTokens.Header, identity);
        return metadata;
    }

    /// <summary>Options of an outgoing call made on behalf of <paramref name="context"/>: its identity, a deadline, its cancellation.</summary>
    public static CallOptions Options(ServerCallContext context) =>
        new(Forward(context), DateTime.UtcNow.Add(CallTimeout), context.CancellationToken);
}
