using BuildGrid.Gateway.ImageMarket.V1;
using Google.Protobuf;

namespace BuildGrid.Gateway.Dialects.ImageMarket;

internal static class ImageMarketExtensions
{
    /// <summary>Paths the image-market dialect owns: their errors are answered in its envelope.</summary>
    static readonly string[] Prefixes = ["/api/project", "/api/plugin", "/view/config"];

    static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));

    public static WebApplication MapImageMarket(this WebApplication app)
    {
        app.UseDialectErrors(Prefixes, async (context, status, message) =>
        {
            var envelope = status switch
            {
                404 => new Envelope { Code = ImageMarketCodes.InvalidParameter, ErrMsg = $"no such endpoint: {context.Request.Method} {context.Request.Path}", Content = ImageMarketCodes.Failed },
                405 => new Envelope { Code = ImageMarketCodes.InvalidParameter, ErrMsg = $"method {context.Request.Method} is not allowed here", Content = ImageMarketCodes.Failed },
                >= 500 => ImageMarketCodes.InternalError(),
                _ => ImageMarketCodes.Invalid(message.Length > 0 ? message : "the request could not be read"),
            };
            // The envelope's rule: every answer is HTTP 200 except a route or method that does not exist.
            context.Response.StatusCode = status is 404 or 405 ? status : StatusCodes.Status200OK;
            context.Response.ContentType = "application/json; charset=utf-8";
            // Compact, like the transcoder's own output.
            await context.Response.WriteAsync(System.Text.Json.Nodes.JsonNode.Parse(Formatter.Format(envelope))!.ToJsonString());
        });
        app.MapGrpcService<ImageMarketService>();
        return app;
    }
}
