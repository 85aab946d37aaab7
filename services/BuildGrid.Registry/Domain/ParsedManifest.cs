using System.Text.Json;

namespace BuildGrid.Registry.Domain;

/// <summary>A content descriptor inside a manifest (config, layer, index entry, subject).</summary>
public sealed record ContentDescriptor(string MediaType, Digest Digest, long Size, string? ArtifactType,
    IReadOnlyDictionary<string, string> Annotations, string? Platform, bool HasUrls);

/// <summary>
/// A manifest or index as pushed, checked against the image-spec shapes BuildGrid stores: OCI image manifest and
/// index, Docker schema 2 manifest and manifest list.
/// </summary>
public sealed record ParsedManifest(
    string MediaType,
    ContentDescriptor? Config,
    IReadOnlyList<ContentDescriptor> Layers,
    IReadOnlyList<ContentDescriptor> Manifests,
    ContentDescriptor? Subject,
    string? ArtifactType,
    IReadOnlyDictionary<string, string> Annotations)
{
    /// <summary>What the referrers API lists as this manifest's artifact type: its own, else its config's media type.</summary>
    public string? EffectiveArtifactType => ArtifactType ?? Config?.MediaType;

    /// <summary>The blobs the registry must hold for this manifest (non-distributable layers with URLs excepted).</summary>
    public IEnumerable<ContentDescriptor> RequiredBlobs =>
        (Config is null ? Layers : Layers.Prepend(Config)).Where(d => !(d.HasUrls && MediaTypes.IsNonDistributable(d.MediaType)));

    /// <param name="contentType">The request's Content-Type; null or a non-manifest type means "read it from the body".</param>
    public static ParsedManifest Parse(ReadOnlySpan<byte> content, string? contentType)
    {
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(content, new JsonReaderOptions { MaxDepth = 64 });
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException e)
        {
            throw Invalid($"the manifest is not JSON: {e.Message}");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Invalid("the manifest must be a JSON object");
            if (!root.TryGetProperty("schemaVersion", out var version) || version.ValueKind != JsonValueKind.Number
                || !version.TryGetInt32(out var v) || v != 2)
                throw Invalid("schemaVersion must be 2");

            var bodyType = OptionalString(root, "mediaType");
            var headerType = contentType is null ? null : contentType.Split(';', 2)[0].Trim();
            if (headerType is not null && !MediaTypes.IsManifest(headerType))
            {
                if (headerType.StartsWith("application/vnd.", StringComparison.Ordinal))
                    throw Invalid($"unsupported manifest media type '{Names.Shorten(headerType)}'");
                headerType = null;   // application/json, application/octet-stream, ...: the body decides
            }
            if (headerType is not null && bodyType is not null && headerType != bodyType)
                throw Invalid($"the Content-Type '{headerType}' does not match the manifest's mediaType '{Names.Shorten(bodyType)}'");
            var mediaType = headerType ?? bodyType
                ?? (root.TryGetProperty("config", out _) ? MediaTypes.OciManifest
                    : root.TryGetProperty("manifests", out _) ? MediaTypes.OciIndex
                    : throw Invalid("the manifest names no mediaType and is neither an image manifest nor an index"));
            if (!MediaTypes.IsManifest(mediaType))
                throw Invalid($"unsupported manifest media type '{Names.Shorten(mediaType)}'");
            if (mediaType is MediaTypes.DockerManifest or MediaTypes.DockerManifestList && bodyType is null)
                throw Invalid("a Docker schema 2 manifest must name its mediaType");

            ContentDescriptor? config = null;
            IReadOnlyList<ContentDescriptor> layers = [], manifests = [];
            if (MediaTypes.IsImageManifest(mediaType))
            {
                if (!root.TryGetProperty("config", out var configElement))
                    throw Invalid("an image manifest must have a config descriptor");
                config = ReadDescriptor(configElement, "config");
                if (!root.TryGetProperty("layers", out var layersElement) || layersElement.ValueKind != JsonValueKind.Array)
                    throw Invalid("an image manifest must have a layers array");
                layers = layersElement.EnumerateArray().Select((l, i) => ReadDescriptor(l, $"layers[{i}]")).ToList();
            }
            else
            {
                if (!root.TryGetProperty("manifests", out var list) || list.ValueKind != JsonValueKind.Array)
                    throw Invalid("an index must have a manifests array");
                manifests = list.EnumerateArray().Select((m, i) => ReadDescriptor(m, $"manifests[{i}]")).ToList();
            }
            var subject = root.TryGetProperty("subject", out var subjectElement) && subjectElement.ValueKind != JsonValueKind.Null
                ? ReadDescriptor(subjectElement, "subject") : null;
            return new ParsedManifest(mediaType, config, layers, manifests, subject, OptionalString(root, "artifactType"),
                ReadAnnotations(root, "annotations"));
        }
    }

    static ContentDescriptor ReadDescriptor(JsonElement element, string where)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw Invalid($"{where} must be a descriptor object");
        var mediaType = OptionalString(element, "mediaType") ?? throw Invalid($"{where}.mediaType is missing");
        var digestText = OptionalString(element, "digest") ?? throw Invalid($"{where}.digest is missing");
        if (!Digest.TryParse(digestText, out var digest))
            throw Invalid($"{where}.digest '{Names.Shorten(digestText)}' is not a sha256 digest");
        if (!element.TryGetProperty("size", out var sizeElement) || sizeElement.ValueKind != JsonValueKind.Number
            || !sizeElement.TryGetInt64(out var size) || size < 0)
            throw Invalid($"{where}.size must be a non-negative integer");
        string? platform = null;
        if (element.TryGetProperty("platform", out var p) && p.ValueKind == JsonValueKind.Object)
        {
            var os = OptionalString(p, "os");
            var arch = OptionalString(p, "architecture");
            var variant = OptionalString(p, "variant");
            platform = os is null && arch is null ? null : $"{os}/{arch}" + (variant is null ? "" : "/" + variant);
        }
        var hasUrls = element.TryGetProperty("urls", out var urls) && urls.ValueKind == JsonValueKind.Array && urls.GetArrayLength() > 0;
        return new ContentDescriptor(mediaType, digest.Value, size, OptionalString(element, "artifactType"),
            ReadAnnotations(element, where + ".annotations"), platform, hasUrls);
    }

    static Dictionary<string, string> ReadAnnotations(JsonElement element, string where)
    {
        if (!element.TryGetProperty("annotations", out var annotations) || annotations.ValueKind == JsonValueKind.Null)
            return new Dictionary<string, string>();
        if (annotations.ValueKind != JsonValueKind.Object)
            throw Invalid($"{where} must be an object of strings");
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in annotations.EnumerateObject())
            result[property.Name] = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()!
                : throw Invalid($"{where}.{property.Name} must be a string");
        return result;
    }

    static string? OptionalString(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) ? value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Null => null,
            _ => throw Invalid($"'{name}' must be a string"),
        } : null;

    static RegistryException Invalid(string detail) => new(RegistryError.ManifestInvalid, "manifest invalid", detail);
}
