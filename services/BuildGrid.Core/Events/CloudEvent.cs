using System.Text.Json;
using System.Text.Json.Nodes;

namespace BuildGrid.Core.Events;

/// <summary>A CloudEvents 1.0 envelope as BuildGrid publishes it; <see cref="Data"/> is the event message's JSON.</summary>
public sealed record CloudEvent(string Id, string Source, string Type, string Topic, DateTimeOffset Time, string Data, string? TraceParent)
{
    public const string SpecVersion = "1.0";
    public const string DataContentType = "application/json";

    /// <summary>The structured-mode JSON envelope (<c>application/cloudevents+json</c>), with the data inline.</summary>
    public byte[] ToEnvelope()
    {
        var envelope = new JsonObject
        {
            ["specversion"] = SpecVersion,
            ["id"] = Id,
            ["source"] = Source,
            ["type"] = Type,
            ["time"] = Time.ToString("O"),
            ["datacontenttype"] = DataContentType,
            ["topic"] = Topic,
            ["data"] = JsonNode.Parse(Data),
        };
        if (TraceParent is { } traceParent)
            envelope["traceparent"] = traceParent;
        return JsonSerializer.SerializeToUtf8Bytes(envelope);
    }

    /// <summary>Reads an envelope delivered on <paramref name="topic"/>; null when it is not a CloudEvent with an id and data.</summary>
    public static CloudEvent? FromEnvelope(JsonElement root, string topic)
    {
        if (root.ValueKind != JsonValueKind.Object
            || !root.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String
            || !root.TryGetProperty("data", out var data))
            return null;
        return new CloudEvent(
            id.GetString()!,
            root.TryGetProperty("source", out var source) && source.ValueKind == JsonValueKind.String ? source.GetString()! : "",
            root.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String ? type.GetString()! : "",
            topic,
            root.TryGetProperty("time", out var time) && time.ValueKind == JsonValueKind.String && time.TryGetDateTimeOffset(out var at) ? at : DateTimeOffset.UtcNow,
            data.GetRawText(),
            root.TryGetProperty("traceparent", out var trace) && trace.ValueKind == JsonValueKind.String ? trace.GetString() : null);
    }
}
