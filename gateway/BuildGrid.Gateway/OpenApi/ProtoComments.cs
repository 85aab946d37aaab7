using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace BuildGrid.Gateway.OpenApi;

/// <summary>
/// The comments written above each <c>rpc</c> of the .proto files, which the C# stubs do not keep (protoc drops source
/// info from the descriptors it embeds). The gateway embeds the .proto files themselves (BuildGrid.Gateway.csproj) and
/// reads them here: consecutive <c>//</c> lines directly above an <c>rpc</c> line, inside its <c>service</c> block.
/// </summary>
internal static partial class ProtoComments
{
    const string ResourcePrefix = "buildgrid.proto/";

    /// <summary>Comment text by method full name (<c>package.Service.Method</c>).</summary>
    static readonly Lazy<IReadOnlyDictionary<string, string>> Methods = new(Load);

    [GeneratedRegex(@"^\s*package\s+([\w.]+)\s*;")]
    private static partial Regex Package();

    [GeneratedRegex(@"^\s*service\s+(\w+)\s*\{")]
    private static partial Regex Service();

    [GeneratedRegex(@"^\s*rpc\s+(\w+)\s*\(")]
    private static partial Regex Rpc();

    /// <summary>The comment above the rpc <paramref name="fullName"/>, or null when it has none.</summary>
    public static string? For(string fullName) => Methods.Value.GetValueOrDefault(fullName);

    /// <summary>How many .proto files were read (none would mean the resources are missing).</summary>
    public static int Files => typeof(ProtoComments).Assembly.GetManifestResourceNames().Count(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal));

    static Dictionary<string, string> Load()
    {
        var comments = new Dictionary<string, string>(StringComparer.Ordinal);
        var assembly = typeof(ProtoComments).Assembly;
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            using var reader = new StreamReader(assembly.GetManifestResourceStream(resource)!);
            Parse(reader.ReadToEnd(), comments);
        }
        return comments;
    }

    internal static void Parse(string proto, IDictionary<string, string> comments)
    {
        string package = "", service = "";
        var pending = new List<string>();
        foreach (var raw in proto.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("//", StringComparison.Ordinal))
            {
                pending.Add(line[2..].Trim());
                continue;
            }
            if (Package().Match(line) is { Success: true } p)
                package = p.Groups[1].Value;
            else if (Service().Match(line) is { Success: true } s)
                service = s.Groups[1].Value;
            else if (Rpc().Match(line) is { Success: true } r && service.Length > 0 && pending.Count > 0)
                comments[$"{package}.{service}.{r.Groups[1].Value}"] = string.Join(' ', pending.Where(l => l.Length > 0));
            pending.Clear();
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
