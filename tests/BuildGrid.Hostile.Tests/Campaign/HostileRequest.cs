namespace BuildGrid.Hostile.Tests.Campaign;

/// <summary>What came back for one hostile request.</summary>
/// <param name="Status">HTTP status, or the gRPC status code's number.</param>
/// <param name="Class">The bucket it is counted in: "2xx", "4xx", "5xx", "grpc:NotFound", "transport" ...</param>
/// <param name="Rejected">The service refused it (HTTP ≥ 400, imagemarket code ≠ 10000, gRPC not OK).</param>
/// <param name="ServerFault">A 5xx, imagemarket 10100, gRPC Internal/Unknown/DataLoss/Unavailable, a hang or a dropped connection.</param>
/// <param name="Body">The response body (or status detail), for the private-data checks and the report.</param>
public sealed record Outcome(int Status, string Class, bool Rejected, bool ServerFault, string Body)
{
    public string Snippet => Body.Length > 300 ? Body[..300] + "…" : Body;
}

/// <summary>
/// One request of the campaign: what it is (for the report), whether it may change stored rows when accepted, and how to
/// send it as a given caller. Sending it again sends the same bytes, so a culprit can be replayed alone.
/// </summary>
public sealed record HostileRequest(string Surface, string Description, bool Mutating,
    Func<CallerProfile, CancellationToken, Task<Outcome>> Send)
{
    public override string ToString() => $"[{Surface}] {Description}";
}
