using BuildGrid.Gateway.ImageMarket.V1;
using Google.Protobuf;

namespace BuildGrid.Gateway.Dialects.ImageMarket;

/// <summary>
/// The envelope for what the transcoder and routing answer on their own on the image market's paths (a domain error of a
/// call is answered in-band by <see cref="ImageMarketCodes"/>, as the document's 200 envelopes).
/// </summary>
internal sealed class ImageMarketErrors : IDialectErrors
{
    ImageMarketErrors() { }

    /// <summary>Paths the image-market dialect owns: their errors are answered in its envelope.</summary>
    public static string[] Prefixes { get; } = ["/api/project", "/api/plugin", "/view/config"];

    static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));

    public static Task WriteAsync(HttpContext context, DialectError error)
    {
        var (status, message) = (error.Status, error.Message);
        var envelope = status switch
        {
            404 => new Envelope { Code = ImageMarketCodes.InvalidParameter, ErrMsg = $"no such endpoint: {context.Request.Method} {context.Request.Path}", Content = ImageMarketCodes.Failed },
            405 => new Envelope { Code = ImageMarketCodes.InvalidParameter, ErrMsg = $"method {context.Request.Method} is not allowed here", Content = ImageMarketCodes.Failed },
            401 => new Envelope { Code = ImageMarketCodes.Unauthenticated, ErrMsg = message.Length > 0 ? message : "credentials required", Content = ImageMarketCodes.Failed },
            403 => new Envelope { Code = ImageMarketCodes.Forbidden, ErrMsg = message.Length > 0 ? message : "permission denied", Content = ImageMarketCodes.Failed },
            413 => new Envelope { Code = ImageMarketCodes.TooLarge, ErrMsg = "request body too large", Content = ImageMarketCodes.Failed },
            429 => new Envelope { Code = ImageMarketCodes.TooManyRequests, ErrMsg = message.Length > 0 ? message : "too many requests; retry later", Content = ImageMarketCodes.Failed },
            DialectErrors.InsufficientStorage => ImageMarketCodes.InsufficientStorage(DialectErrors.DefaultMessage(context, status, message, true)),
            >= 500 => ImageMarketCodes.InternalError(),
            _ => ImageMarketCodes.Invalid(message.Length > 0 ? message : "the request could not be read"),
        };
        // The envelope's rule: every answer is HTTP 200 except a route or method that does not exist, missing or
        // insufficient credentials (401 with its challenge, 403) and a body over the limit (413), which HTTP clients
        // and proxies must see as such, and too many requests (429 with Retry-After).
        context.Response.StatusCode = status is 404 or 405 or 401 or 403 or 413 or 429 ? status : StatusCodes.Status200OK;
        context.Response.ContentType = "application/json; charset=utf-8";
        // Compact, like the transcoder's own output.
        return context.Response.WriteAsync(System.Text.Json.Nodes.JsonNode.Parse(Formatter.Format(envelope))!.ToJsonString());
    }
}
