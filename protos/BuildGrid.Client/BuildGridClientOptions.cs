using System.Text;

namespace BuildGrid.Client;

/// <summary>Where BuildGrid's gRPC listener is and how every client of <see cref="BuildGridClientsExtensions.AddBuildGridClients"/> calls it.</summary>
public sealed class BuildGridClientOptions
{
    Func<CancellationToken, ValueTask<string?>>? authorization;

    /// <summary>
    /// BuildGrid's gRPC address (<c>BUILDGRID_GRPC_URL</c> of the server, such as <c>https://buildgrid.example:5001</c>).
    /// An <c>http://</c> address speaks HTTP/2 without TLS (h2c); credentials are sent over it too, so use one only on a
    /// network you trust.
    /// </summary>
    public Uri? Address { get; set; }

    /// <summary>
    /// A Bearer token sent with every call: an API token (<c>bgt_…</c>, Identity's <c>CreateToken</c>) or a robot token
    /// (<c>CreateRobot</c>). Null sends no credentials (a loopback-only server without an admin password treats such
    /// calls as the admin's).
    /// </summary>
    public string? Token
    {
        set => authorization = value is null ? null : _ => ValueTask.FromResult<string?>("Bearer " + value);
    }

    /// <summary>Asks for the Bearer token before each call (for tokens that rotate); null or empty sends none.</summary>
    public Func<CancellationToken, ValueTask<string?>>? TokenProvider
    {
        set => authorization = value is null ? null : async ct => await value(ct) is { Length: > 0 } token ? "Bearer " + token : null;
    }

    /// <summary>Sends a robot account's credentials as podman and skopeo do: Basic <c>namespace+name:token</c>.</summary>
    public void UseRobot(string @namespace, string name, string token) => UseBasic($"{@namespace}+{name}", token);

    /// <summary>Sends a user's name and password (Basic) with every call.</summary>
    public void UseBasic(string user, string password)
    {
        var value = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));
        authorization = _ => ValueTask.FromResult<string?>(value);
    }

    /// <summary>The deadline of a unary call that sets none itself. Null leaves such calls without one. Default 30 s.</summary>
    public TimeSpan? Deadline { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The deadline of a streaming call (<c>WatchRunLog</c>) that sets none itself. Default none: a log stream lasts as long
    /// as its run.
    /// </summary>
    public TimeSpan? StreamingDeadline { get; set; }

    /// <summary>Attempts of an idempotent call answered <c>Unavailable</c>, the first included (2 to 5; 1 turns retries off). Default 4.</summary>
    public int MaxAttempts { get; set; } = 4;

    /// <summary>The wait before the first retry; it doubles up to <see cref="MaxBackoff"/>, randomised as gRPC does. Default 0.2 s.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest wait between two attempts. Default 5 s.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(5);

    internal Func<CancellationToken, ValueTask<string?>>? Authorization => authorization;

    internal void Validate()
    {
        if (Address is null)
            throw new ArgumentException($"{nameof(BuildGridClientOptions)}.{nameof(Address)} is required: BuildGrid's gRPC address, such as https://buildgrid.example:5001.");
        if (!Address.IsAbsoluteUri || Address.Scheme is not ("http" or "https"))
            throw new ArgumentException($"{nameof(BuildGridClientOptions)}.{nameof(Address)} must be an absolute http:// or https:// address, not '{Address}'.");
        if (MaxAttempts is < 1 or > 5)
            throw new ArgumentException($"{nameof(BuildGridClientOptions)}.{nameof(MaxAttempts)} must be 1 to 5, not {MaxAttempts}.");
        if (InitialBackoff <= TimeSpan.Zero || MaxBackoff < InitialBackoff)
            throw new ArgumentException($"{nameof(BuildGridClientOptions)}: {nameof(InitialBackoff)} must be positive and at most {nameof(MaxBackoff)}.");
        if (Deadline <= TimeSpan.Zero || StreamingDeadline <= TimeSpan.Zero)
            throw new ArgumentException($"{nameof(BuildGridClientOptions)}: deadlines must be positive (or null for none).");
    }
}
