namespace BuildGrid.Core.Events;

/// <summary>A CloudEvents 1.0 envelope as BuildGrid publishes it; <see cref="Data"/> is the event message's JSON.</summary>
public sealed record CloudEvent(string Id, string Source, string Type, string Topic, DateTimeOffset Time, string Data, string? TraceParent)
{
    public const string SpecVersion = "1.0";
    public const string DataContentType = "application/json";
}
