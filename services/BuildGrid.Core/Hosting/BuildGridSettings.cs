using Microsoft.Extensions.Configuration;

namespace BuildGrid.Core.Hosting;

/// <summary>The BUILDGRID_* settings (README lists them), read once from configuration (environment or --KEY=value).</summary>
public sealed class BuildGridSettings
{
    public const string DefaultRestUrl = "http://127.0.0.1:8080";
    public const string DefaultGrpcUrl = "http://127.0.0.1:8081";

    public required Uri RestUrl { get; init; }
    public required Uri GrpcUrl { get; init; }
    public required string DataDir { get; init; }
    /// <summary>A StackExchange.Redis connection string; null means the embedded Garnet server (standalone).</summary>
    public string? Redis { get; init; }
    public required string SqlProvider { get; init; }
    /// <summary>
    /// The connection string of the sqlserver or postgres provider (for postgres an Npgsql one: each service keeps to its
    /// own schema in that database); unused for SQLite, whose files live in <see cref="DataDir"/>.
    /// </summary>
    public string? Sql { get; init; }
    /// <summary>
    /// The slowest a client may take a response while BuildGrid is writing it (bytes/s, after a 10 s grace; 0: no floor):
    /// a reader that stalls — or trickles below it — is disconnected instead of holding the response's buffers.
    /// </summary>
    public int MinResponseBytesPerSecond { get; init; } = DefaultMinResponseBytesPerSecond;
    public const int DefaultMinResponseBytesPerSecond = 64 * 1024;
    /// <summary>
    /// Free space the data directory's disk keeps: creates that would go below it are refused (insufficient storage)
    /// before they write; deletes never are (see Storage/DiskSpace). 0 turns the check off.
    /// </summary>
    public long MinFreeBytes { get; init; } = (long)Storage.DiskSpace.DefaultMinFreeMb << 20;
    public int? DaprGrpcPort { get; init; }
    public int? DaprHttpPort { get; init; }
    public bool DaprEnabled => DaprGrpcPort is not null || DaprHttpPort is not null;

    public static BuildGridSettings From(IConfiguration config)
    {
        var provider = (config["BUILDGRID_SQL_PROVIDER"] ?? "sqlite").Trim().ToLowerInvariant();
        if (provider is "postgresql")
            provider = "postgres";
        if (provider is not ("sqlite" or "sqlserver" or "postgres"))
            throw new StartupException($"BUILDGRID_SQL_PROVIDER must be 'sqlite', 'postgres' or 'sqlserver', not '{provider}'.");
        if (provider != "sqlite" && string.IsNullOrWhiteSpace(config["BUILDGRID_SQL"]))
            throw new StartupException($"BUILDGRID_SQL_PROVIDER={provider} needs a connection string in BUILDGRID_SQL.");
        return new BuildGridSettings
        {
            RestUrl = ParseUrl(config, "BUILDGRID_REST_URL", DefaultRestUrl),
            GrpcUrl = ParseUrl(config, "BUILDGRID_GRPC_URL", DefaultGrpcUrl),
            DataDir = Path.GetFullPath(NonEmpty(config["BUILDGRID_DATA_DIR"]) ?? "data"),
            Redis = NonEmpty(config["BUILDGRID_REDIS"]),
            SqlProvider = provider,
            Sql = NonEmpty(config["BUILDGRID_SQL"]),
            MinResponseBytesPerSecond = ParseRate(config, "BUILDGRID_MIN_RESPONSE_RATE"),
            MinFreeBytes = ParseMegabytes(config, Storage.DiskSpace.MinFreeSetting, Storage.DiskSpace.DefaultMinFreeMb) << 20,
            DaprGrpcPort = ParsePort(config, "DAPR_GRPC_PORT"),
            DaprHttpPort = ParsePort(config, "DAPR_HTTP_PORT"),
        };
    }

    static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    static Uri ParseUrl(IConfiguration config, string key, string fallback)
    {
        var text = NonEmpty(config[key]) ?? fallback;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp)
            throw new StartupException($"{key} must be an http:// URL such as {fallback}, not '{text}'.");
        return uri;
    }

    static int ParseRate(IConfiguration config, string key) =>
        NonEmpty(config[key]) is not { } text ? DefaultMinResponseBytesPerSecond
        : int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var rate) ? rate
        : throw new StartupException($"{key} must be a number of bytes per second (0: no floor), not '{text}'.");

    static long ParseMegabytes(IConfiguration config, string key, long fallback) =>
        NonEmpty(config[key]) is not { } text ? fallback
        : long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var mb) && mb < 1L << 40 ? mb
        : throw new StartupException($"{key} must be a number of megabytes (0: no check), not '{text}'.");

    static int? ParsePort(IConfiguration config, string key) =>
        int.TryParse(config[key], out var port) && port is > 0 and < 65536 ? port : null;
}
