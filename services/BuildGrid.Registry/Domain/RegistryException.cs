namespace BuildGrid.Registry.Domain;

/// <summary>The OCI distribution error codes (spec "Error Codes" table) plus the few distribution adds.</summary>
public enum RegistryError
{
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unsupported,
    /// <summary>Not in the spec's table; distribution answers it for a bad <c>n</c>.</summary>
    PaginationNumberInvalid,
    /// <summary>A chunk that does not start where the upload ends (416, code BLOB_UPLOAD_INVALID).</summary>
    RangeInvalid,
    /// <summary>Over a configured size limit (413, code SIZE_INVALID).</summary>
    TooLarge,
    TagInvalid,
    /// <summary>No usable credentials (401 with the token flow's challenge).</summary>
    Unauthorized,
    /// <summary>Authenticated, but the action is not allowed (403).</summary>
    Denied,
    /// <summary>Too many failed logins for the user of these credentials (429, code TOOMANYREQUESTS).</summary>
    TooManyRequests,
    /// <summary>A pull-through cache's upstream could not be asked and nothing is cached (503, code UNAVAILABLE as distribution writes it).</summary>
    Unavailable,
    /// <summary>
    /// The data directory is full, or below Registry:MinFreeBytes for a new upload (507 Insufficient Storage; the spec's
    /// table has no code for it, so UNKNOWN as distribution writes faults, with a message that says so).
    /// </summary>
    InsufficientStorage,
    /// <summary>A fault of the registry itself (500, code UNKNOWN as distribution writes it).</summary>
    Unknown,
}

/// <summary>
/// A rule of the registry was broken. The /v2/ API writes it as the spec's error body; the gRPC API as a status with
/// an ErrorInfo reason.
/// </summary>
public sealed class RegistryException(RegistryError error, string message, string? detail = null) : Exception(message)
{
    public RegistryError Error { get; } = error;
    public string? Detail { get; } = detail;
    /// <summary>Seconds for a throttled client to wait, sent as <c>Retry-After</c>.</summary>
    public int? RetryAfterSeconds { get; init; }
}
