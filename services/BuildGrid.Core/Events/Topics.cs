using System.Text;
using Google.Protobuf.Reflection;

namespace BuildGrid.Core.Events;

/// <summary>Topic names follow the event message name: ProjectCreated → buildgrid.project.created.</summary>
public static class Topics
{
    public static string For(MessageDescriptor descriptor)
    {
        var name = descriptor.Name;
        var words = new List<string>();
        var current = new StringBuilder();
        foreach (var c in name)
        {
            if (char.IsUpper(c) && current.Length > 0) { words.Add(current.ToString()); current.Clear(); }
            current.Append(char.ToLowerInvariant(c));
        }
        words.Add(current.ToString());
        if (words.Count < 2)
            throw new InvalidOperationException($"Event message {name} must be <Noun><Verb>, such as ProjectCreated.");
        return $"buildgrid.{string.Join('_', words[..^1])}.{words[^1]}";
    }
}
