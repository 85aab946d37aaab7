using System.Text;
using System.Text.Json;
using CloudNative.CloudEvents.SystemTextJson;
using Sdk = CloudNative.CloudEvents;

namespace BuildGrid.Core.Events;

/// <summary>
/// A CloudEvents 1.0 event as BuildGrid publishes and handles it; <see cref="Data"/> is the event message's JSON. The
/// envelope is read and written by the CNCF SDK (<see cref="JsonEventFormatter"/>) and nowhere else: structured mode,
/// <c>datacontenttype</c> <c>application/json</c> with the data inline as a JSON object, and the <c>topic</c> and
/// <c>traceparent</c> extensions — what Dapr pub/sub passes through as it is.
/// </summary>
public sealed record CloudEvent(string Id, string Source, string Type, string Topic, DateTimeOffset Time, string Data, string? TraceParent)
{
    public const string SpecVersion = "1.0";
    public const string DataContentType = "application/json";
    const string TopicAttribute = "topic";
    const string TraceParentAttribute = "traceparent";

    static readonly JsonEventFormatter Formatter = new();

    /// <summary>The structured-mode JSON envelope (<c>application/cloudevents+json</c>), with the data inline.</summary>
    public byte[] ToEnvelope()
    {
        using var data = JsonDocument.Parse(Data);
        var cloudEvent = new Sdk.CloudEvent(Sdk.CloudEventsSpecVersion.V1_0)
        {
            Id = Id,
            Source = new Uri(Source, UriKind.RelativeOrAbsolute),
            Type = Type,
            Time = Time,
            DataContentType = DataContentType,
            Data = data.RootElement,
            [TopicAttribute] = Topic,
        };
        if (TraceParent is { } traceParent)
            cloudEvent[TraceParentAttribute] = traceParent;
        return Formatter.EncodeStructuredModeMessage(cloudEvent, out _).ToArray();
    }

    /// <summary>
    /// Reads a structured-mode envelope delivered on <paramref name="topic"/>; null when it is not a CloudEvent
    /// (required attributes missing, not JSON) or carries no data. An event without a time gets the time it was read.
    /// </summary>
    public static CloudEvent? FromEnvelope(ReadOnlyMemory<byte> envelope, string topic, TimeProvider time)
    {
        Sdk.CloudEvent cloudEvent;
        try
        {
            cloudEvent = Formatter.DecodeStructuredModeMessage(envelope, null, null);
        }
        catch (Exception e) when (e is ArgumentException or JsonException or FormatException)
        {
            return null;
        }
        return cloudEvent.Data is null ? null : From(cloudEvent, topic, time);
    }

    /// <summary>
    /// The event in an SDK <see cref="Sdk.CloudEvent"/>, however it arrived (a structured envelope, or the attributes
    /// daprd hands over one by one); <paramref name="time"/> stands in for a missing <c>time</c>.
    /// </summary>
    public static CloudEvent From(Sdk.CloudEvent cloudEvent, string topic, TimeProvider time) => new(
        cloudEvent.Id ?? "",
        cloudEvent.Source?.OriginalString ?? "",
        cloudEvent.Type ?? "",
        topic,
        cloudEvent.Time ?? time.GetUtcNow(),
        cloudEvent.Data switch
        {
            JsonElement json => json.GetRawText(),
            string text => text,
            byte[] bytes => Encoding.UTF8.GetString(bytes),
            null => "",
            var other => throw new ArgumentException($"CloudEvent data of type {other.GetType().Name}", nameof(cloudEvent)),
        },
        cloudEvent[TraceParentAttribute] as string);
}
