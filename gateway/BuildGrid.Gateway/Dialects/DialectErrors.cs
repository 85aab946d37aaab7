using System.Text.Json;
using BuildGrid.Core.Errors;
using Google.Protobuf.WellKnownTypes;
using ErrorInfo = Google.Rpc.ErrorInfo;
using Grpc.Core;

namespace BuildGrid.Gateway.Dialects;

/// <summary>
/// One dialect's errors: the paths it owns and its one writer, which turns a <see cref="DialectError"/> — the HTTP
/// status, the message and the reason, whoever raised it — into the dialect's status and body.
/// </summary>
internal interface IDialectErrors
{
    static abstract string[] Prefixes { get; }

    static abstract Task WriteAsync(HttpContext context, DialectError error);
}

/// <summary>
/// An error a dialect's writer answers: the HTTP status (the transcoder's or routing's; 507 for a full disk), the message
/// (empty when the transcoder or routing gave none) and the error's ErrorInfo. <see cref="Raised"/> tells a facade's own
/// error (<see cref="DialectErrors.Raise"/>: its reason and metadata are the dialect's answer) from the rest — a domain
/// error that passed through, bad JSON, an unknown route.
/// </summary>
internal sealed record DialectError(int Status, string Message, ErrorInfo? Info)
{
    public bool Raised => Info?.Domain == DialectErrors.Domain;

    /// <summary>The reason the facade raised, or null.</summary>
    public string? Reason => Raised ? Info!.Reason : null;

    /// <summary>A metadata entry of the facade's error (<c>field</c>, a dialect's own <c>code</c>...), or null.</summary>
    public string? Detail(string key) => Raised && Info!.Metadata.TryGetValue(key, out var value) ? value : null;
}

/// <summary>
/// The one error mechanism of every dialect. A facade raises its own errors with <see cref="Raise"/>: an RpcException
/// carrying google.rpc.Status with an ErrorInfo of domain <see cref="Domain"/>, which the transcoder writes like any
/// other (status from the code, the ErrorInfo in <c>details</c>). What the transcoder and routing answer — those
/// errors, domain errors passed through, 400 for input it rejects, bodiless 404/405 — is then read back in one place
/// (<see cref="UseDialectErrors{TErrors}"/>) and handed to the dialect's writer. Responses below 400 pass straight
/// through (nothing is buffered for them).
/// </summary>
internal static class DialectErrors
{
    /// <summary>The ErrorInfo domain of the errors a facade raises itself (the services' is <see cref="Reasons.Domain"/>).</summary>
    public const string Domain = "buildgrid.gateway";

    /// <summary>
    /// A facade's own error, in the dialect's terms: <paramref name="reason"/> and <paramref name="metadata"/> reach the
    /// dialect's writer. Message and metadata are capped as <see cref="Errors.Create"/> caps them (they travel in trailers).
    /// </summary>
    public static RpcException Raise(Grpc.Core.StatusCode code, string reason, string message, params (string Key, string? Value)[] metadata)
    {
        var info = new ErrorInfo { Reason = reason, Domain = Domain };
        foreach (var (key, value) in metadata)
            if (value is not null)
                info.Metadata[key] = Errors.Shorten(Core.Errors.Redaction.UrlUserInfoMasked(value));
        return new Google.Rpc.Status
        {
            Code = (int)code, Message = Errors.Shorten(Core.Errors.Redaction.UrlUserInfoMasked(message)), Details = { Any.Pack(info) },
        }.ToRpcException();
    }

    /// <summary>Whether <paramref name="exception"/> is a facade's own error (<see cref="Raise"/>), to pass on unchanged.</summary>
    public static bool IsRaised(RpcException exception) => exception.Info()?.Domain == Domain;

    /// <summary>Answers the errors below <typeparamref name="TErrors"/>'s paths with its writer.</summary>
    public static IApplicationBuilder UseDialectErrors<TErrors>(this IApplicationBuilder app) where TErrors : IDialectErrors =>
        app.UseErrorCapture(TErrors.Prefixes, (context, status, body) =>
        {
            var (message, info) = body.Length > 0 ? Parse(body) : ("", null);
            context.Response.ContentLength = null;
            context.Response.StatusCode = StorageStatus(status, info);
            return TErrors.WriteAsync(context, new DialectError(context.Response.StatusCode, message, info));
        });

    /// <summary>
    /// For routes that answer google.rpc.Status as the transcoder writes it (<c>/buildgrid/v1</c>): the body passes
    /// unchanged, and a full disk (reason INSUFFICIENT_STORAGE, which the transcoder answers 429 as it does every
    /// ResourceExhausted) is 507 Insufficient Storage, not a "retry later".
    /// </summary>
    public static IApplicationBuilder UseInsufficientStorageStatus(this IApplicationBuilder app, string[] prefixes) =>
        app.UseErrorCapture(prefixes, async (context, status, body) =>
        {
            context.Response.StatusCode = StorageStatus(status, body.Length > 0 ? Parse(body).Info : null);
            await context.Response.Body.WriteAsync(body, context.RequestAborted);
        });

    /// <summary>HTTP 507: what every dialect that speaks HTTP statuses answers for a full disk.</summary>
    public const int InsufficientStorage = StatusCodes.Status507InsufficientStorage;

    /// <summary>507 when the error in a transcoded body is INSUFFICIENT_STORAGE; the status unchanged otherwise.</summary>
    static int StorageStatus(int status, ErrorInfo? info) =>
        status == StatusCodes.Status429TooManyRequests && info?.Reason == Core.Errors.Reasons.InsufficientStorage ? InsufficientStorage : status;

    static IApplicationBuilder UseErrorCapture(this IApplicationBuilder app, string[] prefixes, Func<HttpContext, int, byte[], Task> write) =>
        app.Use(async (context, next) =>
        {
            var path = context.Request.Path;
            if (!prefixes.Any(p => path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase)) || HttpMethods.IsHead(context.Request.Method))
            {
                await next(context);
                return;
            }
            var original = context.Response.Body;
            var capture = new CaptureErrorStream(context.Response, original);
            context.Response.Body = capture;
            try
            {
                await next(context);
            }
            finally
            {
                context.Response.Body = original;
            }
            var status = context.Response.StatusCode;
            if (status < 400 || context.Response.HasStarted && capture.Captured is null)
                return;
            await write(context, status, capture.Captured?.ToArray() ?? []);
        });

    /// <summary>
    /// The status a facade answers for a domain failure that is the caller's to fix (bad input, not found, conflict);
    /// null when it is the server's (unavailable, internal...), which each dialect answers as its own 5xx.
    /// </summary>
    public static Grpc.Core.StatusCode? CallerStatus(Grpc.Core.StatusCode domain) => domain switch
    {
        // Who the caller is and what it may do are the caller's to fix: 401 and 403, never a 5xx.
        Grpc.Core.StatusCode.Unauthenticated => Grpc.Core.StatusCode.Unauthenticated,
        Grpc.Core.StatusCode.PermissionDenied => Grpc.Core.StatusCode.PermissionDenied,
        Grpc.Core.StatusCode.InvalidArgument or Grpc.Core.StatusCode.FailedPrecondition or Grpc.Core.StatusCode.OutOfRange => Grpc.Core.StatusCode.InvalidArgument,
        Grpc.Core.StatusCode.NotFound => Grpc.Core.StatusCode.NotFound,
        Grpc.Core.StatusCode.AlreadyExists or Grpc.Core.StatusCode.Aborted => Grpc.Core.StatusCode.AlreadyExists,
        // Too many failed logins or password checks at once: the caller's to wait out (429 with Retry-After), not a fault.
        Grpc.Core.StatusCode.ResourceExhausted => Grpc.Core.StatusCode.ResourceExhausted,
        _ => null,
    };

    /// <summary>The challenge every 401 outside <c>/v2/</c> carries (the registry answers its own token challenge).</summary>
    public const string Challenge = "Basic realm=\"BuildGrid\", Bearer";

    /// <summary>
    /// Adds <c>WWW-Authenticate</c> to every 401 the REST routes answer (dialects and <c>/buildgrid/v1</c>), and holds REST
    /// routes to <paramref name="maxRequestBodyBytes"/>: a larger body is refused with a bodiless 413 that the dialect's
    /// error step (registered before this) then shapes. <c>/v2/</c> keeps the registry's own limits; gRPC has its message limit.
    /// </summary>
    public static IApplicationBuilder UseRestLimitsAndChallenge(this IApplicationBuilder app, long maxRequestBodyBytes) =>
        app.Use(async (context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/v2") || context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true)
            {
                await next(context);
                return;
            }
            context.Response.OnStarting(() =>
            {
                if (context.Response.StatusCode == StatusCodes.Status401Unauthorized && !context.Response.Headers.ContainsKey("WWW-Authenticate"))
                    context.Response.Headers.WWWAuthenticate = Challenge;
                return Task.CompletedTask;
            });
            if (context.Request.ContentLength > maxRequestBodyBytes)
            {
                TooLarge(context);
                return;
            }
            if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
                feature.MaxRequestBodySize = maxRequestBodyBytes;
            if (context.Request.ContentLength is null && context.Request.Headers.TransferEncoding.Count > 0)
            {
                // A chunked body has no length to check up front, and the transcoder turns a failed read into a 500:
                // read it here (buffered, rewound for the transcoder), so that one over the limit is a 413.
                context.Request.EnableBuffering(bufferThreshold: 64 * 1024, bufferLimit: maxRequestBodyBytes);
                try
                {
                    await context.Request.Body.CopyToAsync(Stream.Null, context.RequestAborted);
                }
                catch (IOException e) when (e is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } || e.Message.Contains("buffer limit", StringComparison.OrdinalIgnoreCase))
                {
                    TooLarge(context);
                    return;
                }
                catch (IOException) when (!context.RequestAborted.IsCancellationRequested)
                {
                    // A malformed chunked body (bad chunk size, overflowing size): the client's fault, not a 500.
                    context.Response.Clear();
                    context.Response.StatusCode = StatusCodes.Status400BadRequest;
                    context.Response.Headers.Connection = "close";
                    return;
                }
                context.Request.Body.Position = 0;
            }
            await next(context);
        });

    static void TooLarge(HttpContext context)
    {
        context.Response.Clear();
        context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
        // The rest of the body is not read: the connection cannot be reused.
        context.Response.Headers.Connection = "close";
    }

    /// <summary>The reason a dialect names for a bare HTTP status when no domain error set one.</summary>
    public static string DefaultReason(int status, string badRequest) => status switch
    {
        400 => badRequest,
        401 => Core.Errors.Reasons.Unauthenticated,
        403 => Core.Errors.Reasons.PermissionDenied,
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        409 => "CONFLICT",
        413 => "PAYLOAD_TOO_LARGE",
        429 => "TOO_MANY_REQUESTS",
        503 => "UNAVAILABLE",
        507 => Core.Errors.Reasons.InsufficientStorage,
        >= 500 => "INTERNAL",
        _ => badRequest,
    };

    /// <summary>The message for a status the transcoder or routing answered without one (5xx never tell their cause).</summary>
    public static string DefaultMessage(HttpContext context, int status, string message, bool domainError)
    {
        if (status == InsufficientStorage)
            return message.Length > 0 ? message : "insufficient storage: the disk of BuildGrid's data directory is full";
        if (status >= 500 && !domainError)
            return "internal error";
        if (message.Length > 0)
            return message;
        return status switch
        {
            404 => $"no such endpoint: {context.Request.Method} {context.Request.Path}",
            405 => $"method {context.Request.Method} is not allowed on {context.Request.Path}",
            401 => "this call needs credentials",
            403 => "permission denied",
            413 => "the request body is larger than this endpoint accepts",
            429 => "too many requests; retry after the time Retry-After names",
            _ => "the request could not be read",
        };
    }

    /// <summary>
    /// The message and the ErrorInfo of a google.rpc.Status body as the transcoder writes it (empty and null for a body
    /// that is not one).
    /// </summary>
    static (string Message, ErrorInfo? Info) Parse(byte[] body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                return ("", null);
            var message = root.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() ?? "" : "";
            if (!root.TryGetProperty("details", out var details) || details.ValueKind != JsonValueKind.Array)
                return (message, null);
            foreach (var detail in details.EnumerateArray())
            {
                if (detail.ValueKind != JsonValueKind.Object || !detail.TryGetProperty("reason", out var reason) || reason.ValueKind != JsonValueKind.String)
                    continue;
                var info = new ErrorInfo
                {
                    Reason = reason.GetString() ?? "",
                    Domain = detail.TryGetProperty("domain", out var domain) && domain.ValueKind == JsonValueKind.String ? domain.GetString() ?? "" : "",
                };
                if (detail.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object)
                    foreach (var entry in metadata.EnumerateObject())
                        if (entry.Value.ValueKind == JsonValueKind.String)
                            info.Metadata[entry.Name] = entry.Value.GetString() ?? "";
                return (message, info);
            }
            return (message, null);
        }
        catch (JsonException)
        {
            return ("", null);
        }
    }

    /// <summary>Passes writes through while the status is a success; from the first write of an error, keeps them.</summary>
    sealed class CaptureErrorStream(HttpResponse response, Stream inner) : Stream
    {
        bool decided;
        public MemoryStream? Captured { get; private set; }

        Stream Target
        {
            get
            {
                if (!decided)
                {
                    decided = true;
                    if (response.StatusCode >= 400)
                        Captured = new MemoryStream();
                }
                return Captured ?? inner;
            }
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { if (Captured is null && decided) inner.Flush(); }
        public override Task FlushAsync(CancellationToken cancellationToken) =>
            Captured is null && decided ? inner.FlushAsync(cancellationToken) : Task.CompletedTask;
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Target.Write(buffer, offset, count);
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Target.WriteAsync(buffer, offset, count, cancellationToken);
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            Target.WriteAsync(buffer, cancellationToken);
    }
}
