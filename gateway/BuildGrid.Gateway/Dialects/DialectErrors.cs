using System.Text.Json;

namespace BuildGrid.Gateway.Dialects;

/// <summary>
/// What JSON transcoding and routing answer on their own — 400 google.rpc.Status for input the transcoder rejects,
/// bodiless 404/405 for unknown routes — reshaped into a dialect's error format. A dialect registers a path prefix and
/// a writer; responses below 400 pass straight through (nothing is buffered for them).
/// </summary>
internal static class DialectErrors
{
    /// <summary>Writes the dialect's error for an HTTP status and the message the transcoder gave (may be empty).</summary>
    public delegate Task Writer(HttpContext context, int status, string message);

    public static IApplicationBuilder UseDialectErrors(this IApplicationBuilder app, string[] prefixes, Writer writer) =>
        app.UseErrorCapture(prefixes, (context, status, body) =>
        {
            var message = body.Length > 0 ? MessageOf(body) : "";
            context.Response.ContentLength = null;
            return writer(context, StorageStatus(status, body), message);
        });

    /// <summary>
    /// For routes that answer google.rpc.Status as the transcoder writes it (<c>/buildgrid/v1</c>): the body passes
    /// unchanged, and a full disk (reason INSUFFICIENT_STORAGE, which the transcoder answers 429 as it does every
    /// ResourceExhausted) is 507 Insufficient Storage, not a "retry later".
    /// </summary>
    public static IApplicationBuilder UseInsufficientStorageStatus(this IApplicationBuilder app, string[] prefixes) =>
        app.UseErrorCapture(prefixes, async (context, status, body) =>
        {
            context.Response.StatusCode = StorageStatus(status, body);
            await context.Response.Body.WriteAsync(body, context.RequestAborted);
        });

    /// <summary>HTTP 507: what every dialect that speaks HTTP statuses answers for a full disk.</summary>
    public const int InsufficientStorage = StatusCodes.Status507InsufficientStorage;

    /// <summary>507 when the domain error in a transcoded body is INSUFFICIENT_STORAGE; the status unchanged otherwise.</summary>
    static int StorageStatus(int status, byte[] body) =>
        status == StatusCodes.Status429TooManyRequests && ReasonOf(body) == Core.Errors.Reasons.InsufficientStorage ? InsufficientStorage : status;

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

    /// <summary>The ErrorInfo reason of a google.rpc.Status body (the transcoder writes its details), or null.</summary>
    static string? ReasonOf(byte[] body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind != JsonValueKind.Object || !json.RootElement.TryGetProperty("details", out var details)
                || details.ValueKind != JsonValueKind.Array)
                return null;
            foreach (var detail in details.EnumerateArray())
                if (detail.ValueKind == JsonValueKind.Object && detail.TryGetProperty("reason", out var reason) && reason.ValueKind == JsonValueKind.String)
                    return reason.GetString();
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    static string MessageOf(byte[] body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.TryGetProperty("message", out var message) ? message.GetString() ?? "" : "";
        }
        catch (JsonException)
        {
            return "";
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
