using Grpc.Core;

namespace BuildGrid.Gateway.Dialects.Svacer;

/// <summary>Every failure of <see cref="SvacerService"/> as one of the dialect's errors (<see cref="SvacerErrors"/>).</summary>
internal sealed class SvacerAnswers(ILogger<SvacerService> logger) : DialectAnswers(logger)
{
    static readonly Dictionary<string, string> Calls = new(StringComparer.Ordinal)
    {
        ["Containers"] = "containers",
        ["ProjectGroups"] = "project-groups",
        ["UpdateSnapshot"] = "snapshot-update",
    };

    protected override string CallName(string method) => Calls.GetValueOrDefault(method, method);

    protected override RpcException Bad(BadBodyException exception) => SvacerErrors.Bad(exception.Message);

    protected override RpcException? FromDomain(RpcException exception) => SvacerErrors.FromDomain(exception);

    protected override RpcException Failed(bool unavailable) => unavailable
        ? SvacerErrors.Raise(StatusCode.Unavailable, "UNAVAILABLE", "the containers service is unavailable; retry later")
        : SvacerErrors.Raise(StatusCode.Internal, "INTERNAL", "internal error");

    protected override void LogFailure(ILogger logger, string call, Exception exception) => Log.SvacerCallFailed(logger, call, exception);
}
