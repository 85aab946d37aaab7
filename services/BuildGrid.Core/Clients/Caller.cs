using Grpc.Core;

namespace BuildGrid.Core.Clients;

/// <summary>
/// Who makes a call, carried in gRPC metadata from the gateway to the services. Until the identity issue lands,
/// the gateway forwards <c>authorization</c> and the caller's name as given by the client.
/// </summary>
public static class Caller
{
    public const string UserHeader = "x-buildgrid-user";
    public const string RequestIdHeader = "x-request-id";

    /// <summary>How long a call to another service may take: transcoded REST calls carry no deadline of their own.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    static readonly string[] Forwarded = ["authorization", UserHeader, RequestIdHeader, "traceparent", "tracestate"];

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
        return metadata;
    }

    /// <summary>Options of an outgoing call made on behalf of <paramref name="context"/>: its identity, a deadline, its cancellation.</summary>
    public static CallOptions Options(ServerCallContext context) =>
        new(Forward(context), DateTime.UtcNow.Add(CallTimeout), context.CancellationToken);
}
