using System.Collections.Frozen;
using System.Security.Cryptography;

namespace BuildGrid.Gateway.Console;

/// <summary>
/// The console's stylesheet and script, embedded in the gateway assembly (Assets/), so that every run mode serves them
/// and nothing is fetched from elsewhere. Pages link them with their content hash (<c>?v=</c>): such a URL is cached for
/// a year as immutable; any other answers with an ETag and <c>no-cache</c>.
/// </summary>
public sealed class ConsoleAssets
{
    sealed record Asset(byte[] Content, string ContentType, string Hash);

    const string Prefix = "BuildGrid.Gateway.Console.Assets.";
    readonly FrozenDictionary<string, Asset> assets;

    public ConsoleAssets()
    {
        var assembly = typeof(ConsoleAssets).Assembly;
        var found = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var bytes = copy.ToArray();
            var name = resource[Prefix.Length..];
            var type = Path.GetExtension(name) switch
            {
                ".css" => "text/css; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "application/octet-stream",
            };
            found[name] = new Asset(bytes, type, Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]);
        }
        assets = found.ToFrozenDictionary(StringComparer.Ordinal);
    }

    string pathBase = ConsoleExtensions.PathBase + "/assets";

    /// <summary>The versioned URL of an asset (fails fast for a name that is not embedded).</summary>
    public string Url(string name) =>
        assets.TryGetValue(name, out var asset) ? $"{pathBase}/{name}?v={asset.Hash}" : throw new ArgumentException($"no console asset '{name}'", nameof(name));

    internal void Map(IEndpointRouteBuilder endpoints, string path)
    {
        pathBase = path;
        endpoints.MapGet(path + "/{name}", (HttpContext context, string name) =>
        {
            if (!assets.TryGetValue(name, out var asset))
                return Results.NotFound();
            var etag = $"\"{asset.Hash}\"";
            var headers = context.Response.Headers;
            headers.ETag = etag;
            headers.CacheControl = context.Request.Query["v"] == asset.Hash ? "public, max-age=31536000, immutable" : "no-cache";
            if (context.Request.Headers.IfNoneMatch == etag)
                return Results.StatusCode(StatusCodes.Status304NotModified);
            return Results.Bytes(asset.Content, asset.ContentType);
        }).ExcludeFromDescription();
    }
}
