using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace BuildGrid.Gateway.Dialects;

/// <summary>
/// Reads the not-quite-JSON that hand-written curl examples send: bare or single-quoted keys and values, members
/// separated by commas or just line breaks, trailing commas. Returns null when the text is not even that.
/// Example (seed 000, save, after the shell ate the quotes): <c>{ project:aa Cluster:default addOrUpdate:add }</c>.
/// </summary>
internal static class RelaxedJson
{
    const int MaxDepth = 32;

    public static JsonNode? TryParse(string text)
    {
        var start = text.AsSpan().TrimStart();
        if (start.Length == 0 || start[0] is not ('{' or '['))
            return null;
        var reader = new Reader(text);
        try
        {
            reader.SkipSpace();
            var node = reader.ReadValue(0);
            reader.SkipSpace();
            return reader.AtEnd ? node : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    sealed class Reader(string text)
    {
        int position;

        public bool AtEnd => position >= text.Length;
        char Peek => position < text.Length ? text[position] : '\0';

        public void SkipSpace()
        {
            while (position < text.Length && (char.IsWhiteSpace(text[position]) || text[position] == ','))
                position++;
        }

        public JsonNode? ReadValue(int depth)
        {
            if (depth > MaxDepth)
                throw new FormatException("too deep");
            return Peek switch
            {
                '{' => ReadObject(depth),
                '[' => ReadArray(depth),
                '"' or '\'' => JsonValue.Create(ReadQuoted()),
                '\0' => throw new FormatException("end of input"),
                _ => Bare(ReadBare(stopAtColon: false)),
            };
        }

        JsonObject ReadObject(int depth)
        {
            position++;
            var result = new JsonObject();
            while (true)
            {
                SkipSpace();
                if (Peek == '}') { position++; return result; }
                if (AtEnd) throw new FormatException("unterminated object");
                var key = Peek is '"' or '\'' ? ReadQuoted() : ReadBare(stopAtColon: true);
                while (position < text.Length && text[position] is ' ' or '\t') position++;
                if (Peek is not (':' or '=')) throw new FormatException("expected ':'");
                position++;
                while (position < text.Length && char.IsWhiteSpace(text[position])) position++;
                result[key] = ReadValue(depth + 1);
            }
        }

        JsonArray ReadArray(int depth)
        {
            position++;
            var result = new JsonArray();
            while (true)
            {
                SkipSpace();
                if (Peek == ']') { position++; return result; }
                if (AtEnd) throw new FormatException("unterminated array");
                result.Add(ReadValue(depth + 1));
            }
        }

        string ReadQuoted()
        {
            var quote = text[position++];
            var builder = new StringBuilder();
            while (position < text.Length && text[position] != quote)
            {
                var c = text[position++];
                if (c == '\\' && position < text.Length)
                {
                    var escaped = text[position++];
                    builder.Append(escaped switch { 'n' => '\n', 't' => '\t', 'r' => '\r', _ => escaped });
                }
                else builder.Append(c);
            }
            if (position >= text.Length) throw new FormatException("unterminated string");
            position++;
            return builder.ToString();
        }

        string ReadBare(bool stopAtColon)
        {
            var start = position;
            while (position < text.Length)
            {
                var c = text[position];
                if (char.IsWhiteSpace(c) || c is ',' or '{' or '}' or '[' or ']' or '"' or '\'' || (stopAtColon && c is ':' or '='))
                    break;
                position++;
            }
            if (position == start) throw new FormatException("expected a value");
            return text[start..position];
        }

        static JsonValue? Bare(string word) => word switch
        {
            "true" => JsonValue.Create(true),
            "false" => JsonValue.Create(false),
            "null" => null,
            _ when long.TryParse(word, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) => JsonValue.Create(n),
            _ => JsonValue.Create(word),
        };
    }
}
