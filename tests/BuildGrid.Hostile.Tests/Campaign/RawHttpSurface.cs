using System.Net.Sockets;
using System.Text;

namespace BuildGrid.Hostile.Tests.Campaign;

/// <summary>
/// What HttpClient refuses to send, written to the REST listener as raw bytes: CR/LF and NUL in header values and
/// request targets, raw "../" and overlong UTF-8 in the path, conflicting and lying lengths, truncated bodies, broken
/// chunking, oversize headers. A connection the server closes without an answer counts as "closed" (Kestrel does that
/// to some malformed input); the host must stay healthy either way.
/// </summary>
public sealed class RawHttpSurface(Uri restUrl)
{
    static readonly string[] Targets =
    [
        "/api/project/info", "/api/public/admin/server/containers", "/api/v1/repository", "/openapi/build", "/v2/hostile/base/tags/list",
        "/buildgrid/v1/code-hosts", "/repositories",
    ];

    public IEnumerable<HostileRequest> Requests()
    {
        foreach (var target in Targets)
        {
            byte[][] heads =
            [
                Ascii($"GET {target}/../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"),
                [.. Ascii($"GET {target}?projectName="), 0xC0, 0xAE, 0xC0, 0xAE, 0xC0, 0xAF, .. Ascii(" HTTP/1.1\r\nHost: x\r\n\r\n")],
                [.. Ascii($"GET {target}"), 0x00, .. Ascii(" HTTP/1.1\r\nHost: x\r\n\r\n")],
                Ascii($"GET {target} HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\rInjected: 1\r\n\r\n"),
                Ascii($"GET {target} HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\nInjected: 1\r\n\r\n"),
                Ascii($"GET {target} HTTP/1.1\r\nHost: x\r\nx-buildgrid-user: a\0admin\r\n\r\n"),
                Ascii($"GET {target} HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n"),
                Ascii($"GET {target} HTTP/1.1\r\nHost: x\r\nX-Big: {new string('a', 70_000)}\r\n\r\n"),
                Ascii($"G\0T {target} HTTP/1.1\r\nHost: x\r\n\r\n"),
                Ascii($"GET {target}\r\n\r\n"),
                Ascii($"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                Ascii($"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n{{}}"),
                Ascii($"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{{}}"),
                Ascii($"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n"),
                Ascii($"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n{{}}\r\n0\r\n\r\n"),
            ];
            foreach (var head in heads)
                yield return Request(target, head, halfClose: false);
            // RFC 9110 15.6.6: 505 is the defined answer to an unsupported major version; Kestrel sends it before any
            // BuildGrid code runs, so it is the one 5xx expected here.
            yield return Request(target, Ascii($"GET {target} HTTP/9.9\r\nHost: x\r\n\r\n"), halfClose: false, expected505: true);
            yield return Request(target, Ascii($"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: \u00e9/\u00e9\r\nRange: bytes=\u00e9\r\nContent-Length: 2\r\n\r\n{{}}"), halfClose: false);
            // Truncated bodies: the length promises more than is sent, then the client stops sending.
            yield return Request(target, Ascii($"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"projectName\":\"a"), halfClose: true);
            yield return Request(target, Ascii($"PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{{\"a\":1"), halfClose: true);
        }
    }

    static byte[] Ascii(string text) => Encoding.Latin1.GetBytes(text);

    HostileRequest Request(string target, byte[] bytes, bool halfClose, bool expected505 = false)
    {
        var firstLine = Encoding.Latin1.GetString(bytes, 0, Math.Max(0, Math.Min(bytes.Length, Array.IndexOf(bytes, (byte)'\n') is var n and > 0 ? n : bytes.Length)));
        var method = firstLine.Split(' ')[0];
        var description = $"raw {(firstLine.Length > 100 ? firstLine[..100] + "…" : firstLine).Replace("\0", "\\0", StringComparison.Ordinal).Replace("\r", "\\r", StringComparison.Ordinal)}"
            + (halfClose ? " (body truncated)" : "") + $" ({bytes.Length} B) → {target}";
        return new HostileRequest("raw-http", description, Mutating: method is not "GET", async (caller, ct) =>
        {
            var outcome = await SendAsync(WithAuthorization(bytes, caller), halfClose, ct);
            return expected505 && outcome.Status == 505 ? outcome with { Class = "505 (HTTP/9.9: expected)", ServerFault = false } : outcome;
        });
    }

    /// <summary>The caller's Authorization header as the first header line (after the request line), when it has one.</summary>
    static byte[] WithAuthorization(byte[] bytes, CallerProfile caller)
    {
        var endOfRequestLine = Array.IndexOf(bytes, (byte)'\n');
        if (caller.Authorization is null || endOfRequestLine < 0)
            return bytes;
        return [.. bytes.AsSpan(0, endOfRequestLine + 1), .. Ascii($"Authorization: {caller.Authorization}\r\n"), .. bytes.AsSpan(endOfRequestLine + 1)];
    }

    async Task<Outcome> SendAsync(byte[] bytes, bool halfClose, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(15));
        using var client = new TcpClient();
        await client.ConnectAsync(restUrl.Host, restUrl.Port, timeout.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(bytes, timeout.Token);
        if (halfClose)
            client.Client.Shutdown(SocketShutdown.Send);
        var buffer = new byte[16 * 1024];
        var received = new MemoryStream();
        try
        {
            while (received.Length < 64 * 1024)
            {
                var read = await stream.ReadAsync(buffer, timeout.Token);
                if (read == 0)
                    break;
                received.Write(buffer, 0, read);
                var text = Encoding.Latin1.GetString(received.GetBuffer(), 0, (int)received.Length);
                // The head, and the body as far as its Content-Length says (imagemarket's outcome is its body's code).
                var headEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                if (headEnd >= 0 && received.Length >= headEnd + 4 + BodyLength(text[..headEnd])
                    && (!IsChunked(text[..headEnd]) || text.EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal)))
                    break;
            }
        }
        catch (IOException)
        {
            // Reset by the server after a malformed request: same as closed.
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new Outcome(0, "hang", Rejected: true, ServerFault: true, "no answer within 15 s");
        }
        var answer = Encoding.Latin1.GetString(received.GetBuffer(), 0, (int)received.Length);
        if (!answer.StartsWith("HTTP/1.", StringComparison.Ordinal) || answer.Length < 12
            || !int.TryParse(answer.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture, out var status))
            return new Outcome(0, "closed", Rejected: true, ServerFault: false, answer);
        var bodyStart = answer.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var body = bodyStart >= 0 ? answer[(bodyStart + 4)..] : "";
        if (bodyStart >= 0 && IsChunked(answer[..bodyStart]) && body.IndexOf("\r\n", StringComparison.Ordinal) is var sizeEnd and >= 0)
        {
            // One chunk is all the host writes for these small answers: its data, without the size line and the last chunk.
            body = body[(sizeEnd + 2)..];
            body = body.IndexOf("\r\n", StringComparison.Ordinal) is var dataEnd and >= 0 ? body[..dataEnd] : body;
        }
        return HttpShot.Classify(status, body) with { Body = answer };
    }

    static bool IsChunked(string head) => head.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase);

    static long BodyLength(string head)
    {
        foreach (var line in head.Split("\r\n"))
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)
                && long.TryParse(line.AsSpan(15).Trim(), System.Globalization.CultureInfo.InvariantCulture, out var length))
                return Math.Min(length, 48 * 1024);
        return 0;
    }
}
