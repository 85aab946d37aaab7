using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Clients;
using BuildGrid.Core.Identity;
using Grpc.Core;

namespace BuildGrid.Gateway.Rest;

/// <summary>
/// <c>GET /buildgrid/v1/runs/{id}/log?follow=true</c>: the run's log as server-sent events while it is written — one
/// event per line (<c>id:</c> its 0-based number, <c>data:</c> its text), then <c>event: end</c> with the run's final
/// state (as GET /buildgrid/v1/runs/{id} spells it: RUN_STATE_SUCCEEDED) and failure reason, and the response ends. A reconnect resumes after <c>Last-Event-ID</c> (what EventSource
/// sends by itself), or from <c>fromLine</c>. Without <c>follow</c> the same path answers the stored page of the log
/// (rest.proto's ReadRunLog). The image market's <c>idStr</c> is a run id here. Errors are google.rpc.Status JSON, as
/// on every /buildgrid/v1 route; the caller's credentials go on to the Builds service, which decides who may read.
/// </summary>
internal static partial class RunLogFollow
{
    [GeneratedRegex("^/buildgrid/v1/runs/(?<id>[^/]{1,200})/log$")]
    private static partial Regex LogPath();

    static readonly string[] Forwarded = ["authorization", ServiceTokens.Header, Caller.RequestIdHeader, "traceparent", "tracestate"];

    public static IApplicationBuilder UseRunLogFollow(this IApplicationBuilder app) =>
        app.Use(async (context, next) =>
        {
            if (!HttpMethods.IsGet(context.Request.Method) || LogPath().Match(context.Request.Path.Value ?? "") is not { Success: true } match
                || !IsTrue(context.Request.Query["follow"].ToString()))
            {
                await next(context);
                return;
            }
            await FollowAsync(context, Uri.UnescapeDataString(match.Groups["id"].Value));
        });

    static bool IsTrue(string value) => value is "true" or "1" or "True";

    static Task FollowAsync(HttpContext context, string id)
    {
        var metadata = new Metadata();
        foreach (var name in Forwarded)
            if (context.Request.Headers[name].ToString() is { Length: > 0 } value)
                metadata.Add(name, value);
        return FollowAsync(context, id, metadata);
    }

    /// <summary>
    /// Writes the run's log as server-sent events, calling the Builds service with <paramref name="metadata"/> (the
    /// caller's credentials): the REST route forwards the request's headers, the console its session's credential.
    /// </summary>
    internal static async Task FollowAsync(HttpContext context, string id, Metadata metadata)
    {
        if (!TryFirstLine(context.Request, out var from, out var problem))
        {
            await WriteStatusAsync(context, StatusCode.InvalidArgument, problem);
            return;
        }
        var runs = context.RequestServices.GetRequiredService<BuildRuns.BuildRunsClient>();
        var ct = context.RequestAborted;
        try
        {
            // Not found, not the caller's to read, no credentials: answered before the stream starts.
            await runs.GetRunAsync(new GetRunRequest { Id = id }, new CallOptions(metadata, Caller.Deadline(), ct));
        }
        catch (RpcException e)
        {
            await WriteStatusAsync(context, e.StatusCode, e.Status.Detail);
            return;
        }
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        response.Headers["X-Accel-Buffering"] = "no";
        await response.StartAsync(ct);
        try
        {
            using var watch = runs.WatchRunLog(new WatchRunLogRequest { Id = id, FromLine = from }, new CallOptions(metadata, cancellationToken: ct));
            var text = new StringBuilder();
            while (await watch.ResponseStream.MoveNext(ct))
            {
                var line = watch.ResponseStream.Current;
                text.Clear().Append("id: ").Append(line.Number).Append('\n');
                foreach (var part in line.Text.ReplaceLineEndings("\n").Split('\n'))
                    text.Append("data: ").Append(part).Append('\n');
                text.Append('\n');
                await response.WriteAsync(text.ToString(), ct);
                await response.Body.FlushAsync(ct);
            }
            var run = await runs.GetRunAsync(new GetRunRequest { Id = id }, new CallOptions(metadata, Caller.Deadline(), ct));
            var end = JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["state"] = RunsReflection.Descriptor.EnumTypes.First(e => e.Name == nameof(RunState)).FindValueByNumber((int)run.State)?.Name ?? run.State.ToString(), ["failureReason"] = run.FailureReason,
            });
            await response.WriteAsync($"event: end\ndata: {end.ReplaceLineEndings("\\n")}\n\n", ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away; EventSource reconnects with Last-Event-ID.
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && ct.IsCancellationRequested)
        {
        }
        catch (RpcException e)
        {
            // The stream has started: the error goes out as an event, not as a status.
            await response.WriteAsync($"event: error\ndata: {JsonSerializer.Serialize(new { code = (int)e.StatusCode, message = e.Status.Detail })}\n\n", CancellationToken.None);
        }
    }

    /// <summary>Where to start: after <c>Last-Event-ID</c> when the client sends one, else at <c>fromLine</c> (default 0).</summary>
    static bool TryFirstLine(HttpRequest request, out long from, out string problem)
    {
        from = 0;
        problem = "";
        var lastEventId = request.Headers["Last-Event-ID"].ToString();
        if (lastEventId.Length > 0)
        {
            if (!long.TryParse(lastEventId, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var last))
            {
                problem = $"Last-Event-ID must be a line number, not '{(lastEventId.Length > 40 ? lastEventId[..40] + "…" : lastEventId)}'";
                return false;
            }
            from = last + 1;
            return true;
        }
        var fromLine = request.Query["fromLine"].ToString();
        if (fromLine.Length == 0)
            fromLine = request.Query["from_line"].ToString();
        if (fromLine.Length > 0 && !long.TryParse(fromLine, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out from))
        {
            problem = $"fromLine must be a line number (0 or more), not '{(fromLine.Length > 40 ? fromLine[..40] + "…" : fromLine)}'";
            return false;
        }
        return true;
    }

    /// <summary>An error as every /buildgrid/v1 route answers it: google.rpc.Status JSON with the matching HTTP status.</summary>
    static async Task WriteStatusAsync(HttpContext context, StatusCode code, string message)
    {
        context.Response.StatusCode = code switch
        {
            StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.OutOfRange => StatusCodes.Status400BadRequest,
            StatusCode.Unauthenticated => StatusCodes.Status401Unauthorized,
            StatusCode.PermissionDenied => StatusCodes.Status403Forbidden,
            StatusCode.NotFound => StatusCodes.Status404NotFound,
            StatusCode.ResourceExhausted => StatusCodes.Status429TooManyRequests,
            StatusCode.Unavailable => StatusCodes.Status503ServiceUnavailable,
            StatusCode.DeadlineExceeded => StatusCodes.Status504GatewayTimeout,
            _ => StatusCodes.Status500InternalServerError,
        };
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.WriteAsync(JsonSerializer.Serialize(new { code = (int)code, message, details = Array.Empty<object>() }));
    }
}
