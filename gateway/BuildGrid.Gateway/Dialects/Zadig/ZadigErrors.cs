using System.Text.Json;
using System.Text.Json.Nodes;
using BuildGrid.Core.Errors;
using Grpc.Core;

namespace BuildGrid.Gateway.Dialects.Zadig;

/// <summary>
/// Zadig's error shape (koderover/zadig pkg/tool/errors): HTTP status = <c>code</c>, body
/// <c>{"type":"error","message":"Bad Request","code":400,"description":"&lt;what is wrong, naming the field&gt;","extra":{"reason":"...","field":"..."}}</c>.
/// message is Zadig's fixed text per status ("Bad Request", "Request Not Found", ...). The facade raises a plain
/// RpcException and leaves reason and field in the request's items; <see cref="DialectErrors"/> writes the shape for
/// those answers and for everything the transcoder and routing answer on their own (bad JSON, unknown route, 405).
/// </summary>
internal static class ZadigErrors
{
    const string ReasonKey = "buildgrid.zadig.reason";
    const string FieldKey = "buildgrid.zadig.field";
    const string CodeKey = "buildgrid.zadig.code";
    const string TitleKey = "buildgrid.zadig.title";

    /// <summary>
    /// Zadig's module error codes (pkg/tool/errors/http_errors.go) for a build that exists already or does not exist:
    /// the body's code and message; Zadig answers every 6xxx code with HTTP 400 (errors.go ErrorMessage).
    /// </summary>
    public static readonly (int Code, string Title) CreateBuildModule = (6520, "新建编译模块失败"),
        UpdateBuildModule = (6521, "更新编译模块失败"), GetBuildModule = (6523, "查询编译模块失败");

    /// <summary>A build-module failure: HTTP 400 with Zadig's own code and message, the domain's reason kept in extra.</summary>
    public static RpcException Module(ServerCallContext context, (int Code, string Title) error, RpcException domain)
    {
        var items = context.GetHttpContext().Items;
        items[CodeKey] = error.Code;
        items[TitleKey] = error.Title;
        return Raise(context, StatusCode.InvalidArgument, domain.Info()?.Reason ?? Reasons.InvalidArgument, domain.Status.Detail);
    }

    static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static bool IsRaised(ServerCallContext context) => context.GetHttpContext().Items.ContainsKey(ReasonKey);

    /// <summary>Bad input found by the gateway; <paramref name="field"/> as the caller spells it.</summary>
    public static RpcException Bad(ServerCallContext context, string field, string message) =>
        Raise(context, StatusCode.InvalidArgument, Reasons.InvalidArgument, message, field);

    public static RpcException Raise(ServerCallContext context, StatusCode code, string reason, string message, string? field = null)
    {
        var items = context.GetHttpContext().Items;
        items[ReasonKey] = reason;
        if (field is not null)
            items[FieldKey] = field;
        // A message may quote the caller's input: ErrorSizeInterceptor caps it so that it fits in a grpc-message trailer.
        return new RpcException(new Status(code, message));
    }

    /// <summary>A domain failure the caller can act on, re-raised with its reason and field; null when it is the server's fault.</summary>
    public static RpcException? FromDomain(ServerCallContext context, RpcException exception)
    {
        var code = DialectErrors.CallerStatus(exception.StatusCode);
        if (code is not { } c)
            return null;
        var info = exception.Info();
        return Raise(context, c, info?.Reason ?? c.ToString().ToUpperInvariant(), exception.Status.Detail,
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

    public static Task WriteAsync(HttpContext context, int status, string message)
    {
        var reason = context.Items[ReasonKey] as string ?? DialectErrors.DefaultReason(status, Reasons.InvalidArgument);
        // A full disk is raised as ResourceExhausted, which the transcoder answers 429: it is 507 here.
        if (reason == Reasons.InsufficientStorage)
            context.Response.StatusCode = status = DialectErrors.InsufficientStorage;
        message = DialectErrors.DefaultMessage(context, status, message, context.Items.ContainsKey(ReasonKey));
        var extra = new JsonObject { ["reason"] = reason };
        if (context.Items[FieldKey] is string field)
            extra["field"] = field;
        var body = new JsonObject
        {
            ["type"] = "error",
            ["message"] = context.Items[TitleKey] as string ?? Title(status),
            ["code"] = context.Items[CodeKey] as int? ?? status,
            ["description"] = message,
            ["extra"] = extra,
        };
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.WriteAsync(body.ToJsonString(Json));
    }
}
