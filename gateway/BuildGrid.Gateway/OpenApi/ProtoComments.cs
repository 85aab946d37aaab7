using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace BuildGrid.Gateway.OpenApi;

/// <summary>
/// The comments written above each <c>rpc</c> and message field of the .proto files, which the C# stubs do not keep
/// (protoc drops source info from the descriptors it embeds). The gateway embeds the .proto files themselves
/// (BuildGrid.Gateway.csproj) and reads each once (<see cref="Parse"/>).
/// </summary>
internal static partial class ProtoComments
{
    const string ResourcePrefix = "buildgrid.proto/";

    /// <summary>Comment text by method full name (<c>package.Service.Method</c>) and by field full name
    /// (<c>package.Message.field</c>, nested messages dotted in).</summary>
    static readonly Lazy<(Dictionary<string, string> Methods, Dictionary<string, string> Fields)> Comments = new(Load);

    [GeneratedRegex(@"^\s*package\s+([\w.]+)\s*;")]
    private static partial Regex Package();

    [GeneratedRegex(@"^\s*rpc\s+(\w+)\s*\(")]
    private static partial Regex Rpc();

    /// <summary>The comment above the rpc <paramref name="fullName"/>, or null when it has none.</summary>
    public static string? For(string fullName) => Comments.Value.Methods.GetValueOrDefault(fullName);

    /// <summary>The comment of the message field <paramref name="fullName"/> (above it or after it on its line), or null.</summary>
    public static string? ForField(string fullName) => Comments.Value.Fields.GetValueOrDefault(fullName);

    /// <summary>How many .proto files were read (none would mean the resources are missing).</summary>
    public static int Files => typeof(ProtoComments).Assembly.GetManifestResourceNames().Count(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal));

    static (Dictionary<string, string>, Dictionary<string, string>) Load()
    {
        var methods = new Dictionary<string, string>(StringComparer.Ordinal);
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        var assembly = typeof(ProtoComments).Assembly;
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            using var reader = new StreamReader(assembly.GetManifestResourceStream(resource)!);
            Parse(reader.ReadToEnd(), methods, fields);
        }
        return (methods, fields);
    }

    [GeneratedRegex(@"^(message|enum|service|oneof|extend)\s+([\w.]+)$")]
    private static partial Regex Block();

    [GeneratedRegex(@"^(?:(?:optional|repeated|required)\s+)?(?:map\s*<[^>]*>|[\w.]+)\s+(\w+)\s*=\s*\d+")]
    private static partial Regex Field();

    /// <summary>
    /// The comments of one .proto file: for an rpc, the <c>//</c> lines directly above it inside its <c>service</c>; for a
    /// message field, the <c>//</c> lines directly above it and a <c>//</c> comment after it on the same line. A blank line
    /// in between detaches comments (section headings, notes on a group). Statements are read up to their <c>;</c> or
    /// <c>{</c>, and blocks tracked by their braces, so one-line messages (<c>message M { string name = 1; }</c>), oneofs
    /// (whose fields belong to the message) and option blocks inside rpcs are read right; string literals may hold <c>//</c>.
    /// </summary>
    internal static void Parse(string proto, IDictionary<string, string> methods, IDictionary<string, string> comments)
    {
        var package = "";
        var scopes = new List<(string Kind, string Name)>();
        var pending = new List<string>();
        var statement = new StringBuilder();
        string? lastField = null;
        var lastFieldLine = -1;
        var line = 0;
        for (var i = 0; i < proto.Length; i++)
        {
            var c = proto[i];
            if (c == '\n')
            {
                line++;
                // A blank line between comments and what follows detaches them (section headings, notes on a group).
                var next = i + 1;
                while (next < proto.Length && proto[next] is ' ' or '\t' or '\r') next++;
                if (next < proto.Length && proto[next] == '\n' && statement.ToString().Trim().Length == 0)
                    pending.Clear();
                statement.Append(' ');
                continue;
            }
            if (c == '/' && i + 1 < proto.Length && proto[i + 1] == '/')
            {
                var end = proto.IndexOf('\n', i);
                if (end < 0) end = proto.Length;
                var text = proto[(i + 2)..end].Trim();
                if (line == lastFieldLine && lastField is not null)
                    comments[lastField] = comments.TryGetValue(lastField, out var above) ? above + " " + text : text;
                else if (text.Length > 0)
                    pending.Add(text);
                i = end - 1;
                continue;
            }
            if (c == '/' && i + 1 < proto.Length && proto[i + 1] == '*')
            {
                var end = proto.IndexOf("*/", i + 2, StringComparison.Ordinal);
                if (end < 0) end = proto.Length - 2;
                line += proto.AsSpan(i, end - i).Count('\n');
                i = end + 1;
                continue;
            }
            if (c is '"' or '\'')
            {
                var end = i + 1;
                while (end < proto.Length && proto[end] != c)
                    end += proto[end] == '\\' ? 2 : 1;
                statement.Append(proto, i, Math.Min(end, proto.Length - 1) - i + 1);
                i = end;
                continue;
            }
            if (c == '{')
            {
                var header = statement.ToString().Trim();
                AddRpc(header);
                var block = Block().Match(header);
                scopes.Add(block.Success ? (block.Groups[1].Value, block.Groups[2].Value) : ("", ""));
                statement.Clear();
                pending.Clear();
                continue;
            }
            if (c is '}' or ';')
            {
                var text = statement.ToString().Trim();
                statement.Clear();
                if (c == '}')
                {
                    if (scopes.Count > 0) scopes.RemoveAt(scopes.Count - 1);
                }
                else if (scopes.Count > 0 && scopes[^1].Kind == "service")
                    AddRpc(text);
                else if (scopes.Count == 0 && Package().Match(text + ";") is { Success: true } p)
                    package = p.Groups[1].Value;
                else if (scopes.Count > 0 && scopes[^1].Kind is "message" or "oneof" && Field().Match(text) is { Success: true } f)
                {
                    var messages = scopes.Where(s => s.Kind == "message").Select(s => s.Name);
                    lastField = string.Join('.', [.. (package.Length > 0 ? new[] { package } : []), .. messages, f.Groups[1].Value]);
                    lastFieldLine = line;
                    if (pending.Count > 0)
                        comments[lastField] = string.Join(' ', pending);
                }
                pending.Clear();
                continue;
            }
            statement.Append(c);
        }

        // An rpc statement (ended by ';' or by its option block's '{') directly inside a service takes the pending comment.
        void AddRpc(string text)
        {
            if (pending.Count > 0 && scopes.Count > 0 && scopes[^1].Kind == "service" && Rpc().Match(text) is { Success: true } rpc)
                methods[$"{package}.{scopes[^1].Name}.{rpc.Groups[1].Value}"] = string.Join(' ', pending);
        }
    }

    /// <summary>The first sentence of a comment (up to ". " or its end), as an operation's summary.</summary>
    public static string FirstSentence(string comment)
    {
        var end = comment.IndexOf(". ", StringComparison.Ordinal);
        return (end < 0 ? comment : comment[..(end + 1)]).Trim();
    }

    /// <summary>A method name as words: "CreateRepository" → "Create repository".</summary>
    public static string Words(string methodName)
    {
        var text = new StringBuilder();
        foreach (var c in methodName)
        {
            if (char.IsUpper(c) && text.Length > 0)
                text.Append(' ').Append(char.ToLowerInvariant(c));
            else
                text.Append(c);
        }
        return text.ToString();
    }
}
