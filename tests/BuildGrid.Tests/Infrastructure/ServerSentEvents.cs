namespace BuildGrid.Tests.Infrastructure;

/// <summary>A minimal reader of a text/event-stream response, as EventSource parses it: id, event and data fields, blank line ends an event.</summary>
public static class ServerSentEvents
{
    public sealed record Event(string? Id, string Type, string Data);

    public static async IAsyncEnumerable<Event> ReadAsync(Stream stream, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(stream);
        string? id = null, type = null;
        var data = new List<string>();
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0)
            {
                if (data.Count > 0 || type is not null)
                    yield return new Event(id, type ?? "message", string.Join('\n', data));
                (id, type) = (null, null);
                data.Clear();
                continue;
            }
            if (line.StartsWith(':'))
                continue;
            var colon = line.IndexOf(':');
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..] is [' ', .. var rest] ? rest : line[(colon + 1)..];
            switch (field)
            {
                case "id": id = value; break;
                case "event": type = value; break;
                case "data": data.Add(value); break;
            }
        }
    }
}
