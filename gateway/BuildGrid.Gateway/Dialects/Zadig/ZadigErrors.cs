using System.Text.Json;
using System.Text.Json.Nodes;
using BuildGrid.Core.Errors;
using Grpc.Core;

namespace BuildGrid.Gateway.Dialects.Zadig;

/// <summary>
/// Zadig's error shape (koderover/zadig pkg/tool/errors): HTTP status = <c>code</c>, body
/// <c>{"type":"error","message":"Bad Request","code":400,"description":"&lt;what is wrong, naming the field&gt;","extra":{"reason":"...","field":"..."}}</c>.
/// message is Zadig's fixed text per status ("Bad Request", "Request Not Found", ...). The facade raises its errors with
/// <see cref="DialectErrors.Raise"/>, reason and field (and a module error's code and title) in the ErrorInfo;
/// <see cref="WriteAsync"/> writes the shape for those and for everything the transcoder and routing answer on their
/// own (bad JSON, unknown route, 405).
/// </summary>
internal sealed class ZadigErrors : IDialectErrors
{
    ZadigErrors() { }

    /// <summary>Paths the zadig dialect owns: their errors are answered in its shape.</summary>
    public static string[] Prefixes { get; } = ["/openapi/build"];

    const string FieldKey = "field";
    const string CodeKey = "code";
    const string TitleKey = "title";

    /// <summary>
    /// Zadig's module error codes (pkg/tool/errors/http_errors.go) for a build that exists already or does not exist:
    /// the body's code and message; Zadig answers every 6xxx code with HTTP 400 (errors.go ErrorMessage).
    /// </summary>
    public static readonly (int Code, string Title) CreateBuildModule = (6520, "新建编译模块失败"),
        UpdateBuildModule = (6521, "更新编译模块失败"), GetBuildModule = (6523, "查询编译模块失败");

    /// <summary>A build-module failure: HTTP 400 with Zadig's own code and message, the domain's reason kept in extra.</summary>
    public static RpcException Module((int Code, string Title) error, RpcException domain) =>
        DialectErrors.Raise(StatusCode.InvalidArgument, domain.Info()?.Reason ?? Reasons.InvalidArgument, domain.Status.Detail,
            (CodeKey, error.Code.ToString(System.Globalization.CultureInfo.InvariantCulture)), (TitleKey, error.Title));

    static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Bad input found by the gateway; <paramref name="field"/> as the caller spells it.</summary>
    public static RpcException Bad(string field, string message) =>
        Raise(StatusCode.InvalidArgument, Reasons.InvalidArgument, message, field);

    public static RpcException Raise(StatusCode code, string reason, string message, string? field = null) =>
        DialectErrors.Raise(code, reason, message, (FieldKey, field));

    /// <summary>A domain failure the caller can act on, re-raised with its reason and field; null when it is the server's fault.</summary>
    public static RpcException? FromDomain(RpcException exception)
    {
        var code = DialectErrors.CallerStatus(exception.StatusCode);
        if (code is not { } c)
            return null;
        var info = exception.Info();
        return Raise(c, info?.Reason ?? c.ToString().ToUpperInvariant(), exception.Status.Detail,
            info?.Metadata.TryGetValue("field", out var field) == true ? field : null);
    }

    static string Title(int status) => status switch
    {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Request Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        507 => "Insufficient Storage",
        _ => status >= 500 ? "Internal Error" : "Bad Request",
    };

    public static Task WriteAsync(HttpContext context, DialectError error)
    {
        var status = error.Status;
        var reason = error.Reason ?? DialectErrors.DefaultReason(status, Reasons.InvalidArgument);
        // A full disk is raised as ResourceExhausted, which the transcoder answers 429: it is 507 here.
        if (reason == Reasons.InsufficientStorage)
            context.Response.StatusCode = status = DialectErrors.InsufficientStorage;
        var message = DialectErrors.DefaultMessage(context, status, error.Message, error.Raised);
        var extra = new JsonObject { ["reason"] = reason };
        if (error.Detail(FieldKey) is { } field)
            extra["field"] = field;
        var body = new JsonObject
        {
            ["type"] = "error",
            ["message"] = error.Detail(TitleKey) ?? Title(status),
            ["code"] = int.TryParse(error.Detail(CodeKey), System.Globalization.CultureInfo.InvariantCulture, out var code) ? code : status,
            ["description"] = message,
            ["extra"] = extra,
        };
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.WriteAsync(body.ToJsonString(Json));
    }
}
