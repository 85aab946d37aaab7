using Grpc.Core;

namespace BuildGrid.Gateway.Dialects.Zadig;

/// <summary>Every failure of <see cref="ZadigService"/> as one of the dialect's errors (<see cref="ZadigErrors"/>).</summary>
internal sealed class ZadigAnswers(ILogger<ZadigService> logger) : DialectAnswers(logger)
{
    static readonly Dictionary<string, string> Calls = new(StringComparer.Ordinal)
    {
        ["CreateBuild"] = "create",
        ["UpdateBuild"] = "update",
        ["UpdateTemplateBuild"] = "update-template",
        ["ListBuilds"] = "list",
        ["GetBuildDetail"] = "detail",
        ["DeleteBuild"] = "delete",
    };

    protected override string CallName(string method) => Calls.GetValueOrDefault(method, method);

    protected override RpcException Bad(BadBodyException exception) => ZadigErrors.Bad(FieldOf(exception.Message), exception.Message);

    /// <summary>The binder's messages start with the field's path ("parameters[0].is_credential must be true or false").</summary>
    static string FieldOf(string message) => message.Split(' ')[0] is var first && first is "the" or "request" ? "body" : message.Split(' ')[0];

    protected override RpcException? FromDomain(RpcException exception) => ZadigErrors.FromDomain(exception);

    protected override RpcException Failed(bool unavailable) => unavailable
        ? ZadigErrors.Raise(StatusCode.Unavailable, "UNAVAILABLE", "the builds service is unavailable; retry later")
        : ZadigErrors.Raise(StatusCode.Internal, "INTERNAL", "internal error");

    protected override void LogFailure(ILogger logger, string call, Exception exception) => Log.ZadigCallFailed(logger, call, exception);
}
