using System.Text.Json;
using BuildGrid.Registry.Domain;
using Microsoft.AspNetCore.Http;

namespace BuildGrid.Registry.Distribution;

/// <summary>The spec's error table: each <see cref="RegistryError"/> as its wire code and HTTP status, and the error body.</summary>
public static class OciErrors
{
    public static (string Code, int Status) For(RegistryError error) => error switch
    {
        RegistryError.BlobUnknown => ("BLOB_UNKNOWN", StatusCodes.Status404NotFound),
        RegistryError.BlobUploadInvalid => ("BLOB_UPLOAD_INVALID", StatusCodes.Status400BadRequest),
        RegistryError.BlobUploadUnknown => ("BLOB_UPLOAD_UNKNOWN", StatusCodes.Status404NotFound),
        RegistryError.DigestInvalid => ("DIGEST_INVALID", StatusCodes.Status400BadRequest),
        RegistryError.ManifestBlobUnknown => ("MANIFEST_BLOB_UNKNOWN", StatusCodes.Status400BadRequest),
        RegistryError.ManifestInvalid => ("MANIFEST_INVALID", StatusCodes.Status400BadRequest),
        RegistryError.ManifestUnknown => ("MANIFEST_UNKNOWN", StatusCodes.Status404NotFound),
        RegistryError.NameInvalid => ("NAME_INVALID", StatusCodes.Status400BadRequest),
        RegistryError.NameUnknown => ("NAME_UNKNOWN", StatusCodes.Status404NotFound),
        RegistryError.SizeInvalid => ("SIZE_INVALID", StatusCodes.Status400BadRequest),
        RegistryError.Unsupported => ("UNSUPPORTED", StatusCodes.Status405MethodNotAllowed),
        RegistryError.PaginationNumberInvalid => ("PAGINATION_NUMBER_INVALID", StatusCodes.Status400BadRequest),
        RegistryError.RangeInvalid => ("BLOB_UPLOAD_INVALID", StatusCodes.Status416RangeNotSatisfiable),
        RegistryError.TooLarge => ("SIZE_INVALID", StatusCodes.Status413PayloadTooLarge),
        RegistryError.TagInvalid => ("TAG_INVALID", StatusCodes.Status400BadRequest),
        RegistryError.Unauthorized => ("UNAUTHORIZED", StatusCodes.Status401Unauthorized),
        RegistryError.Denied => ("DENIED", StatusCodes.Status403Forbidden),
        RegistryError.TooManyRequests => ("TOOMANYREQUESTS", StatusCodes.Status429TooManyRequests),
        RegistryError.Unavailable => ("UNAVAILABLE", StatusCodes.Status503ServiceUnavailable),
        RegistryError.InsufficientStorage => ("UNKNOWN", StatusCodes.Status507InsufficientStorage),
        _ => ("UNKNOWN", StatusCodes.Status500InternalServerError),
    };

    /// <summary>Writes <c>{"errors":[{"code","message","detail"}]}</c> with the error's status.</summary>
    public static async Task WriteAsync(HttpResponse response, RegistryException exception)
    {
        var (code, status) = For(exception.Error);
        response.StatusCode = status;
        response.ContentType = "application/json; charset=utf-8";
        if (exception.RetryAfterSeconds is { } wait)
            response.Headers.RetryAfter = wait.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var body = JsonSerializer.SerializeToUtf8Bytes(new ErrorBody([new ErrorEntry(code, exception.Message, exception.Detail)]),
            DistributionJson.Relaxed.ErrorBody);
        response.ContentLength = body.Length;
        if (!HttpMethods.IsHead(response.HttpContext.Request.Method))
            await response.Body.WriteAsync(body);
    }
}

public sealed record ErrorEntry(string Code, string Message,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.Never)] string? Detail);
public sealed record ErrorBody(IReadOnlyList<ErrorEntry> Errors);
public sealed record CatalogBody(IReadOnlyList<string> Repositories);
public sealed record TagListBody(string Name, IReadOnlyList<string> Tags);
/// <summary>The token endpoint's answer (distribution token spec): <c>token</c> and <c>access_token</c> are the same token.</summary>
public sealed record TokenBody(
    [property: System.Text.Json.Serialization.JsonPropertyName("token")] string Token,
    [property: System.Text.Json.Serialization.JsonPropertyName("access_token")] string AccessToken,
    [property: System.Text.Json.Serialization.JsonPropertyName("expires_in")] int ExpiresIn,
    [property: System.Text.Json.Serialization.JsonPropertyName("issued_at")] string IssuedAt);
public sealed record ReferrerDescriptor(string MediaType, string Digest, long Size, string? ArtifactType, IReadOnlyDictionary<string, string>? Annotations);
public sealed record ReferrersIndex(int SchemaVersion, string MediaType, IReadOnlyList<ReferrerDescriptor> Manifests);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(
    PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ErrorBody))]
[System.Text.Json.Serialization.JsonSerializable(typeof(CatalogBody))]
[System.Text.Json.Serialization.JsonSerializable(typeof(TagListBody))]
[System.Text.Json.Serialization.JsonSerializable(typeof(ReferrersIndex))]
[System.Text.Json.Serialization.JsonSerializable(typeof(TokenBody))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class DistributionJson : System.Text.Json.Serialization.JsonSerializerContext
{
    /// <summary>Writes ' &lt; &gt; as themselves: error details quote names and digests, and people read them.</summary>
    public static DistributionJson Relaxed { get; } = new(new JsonSerializerOptions
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    });
}
