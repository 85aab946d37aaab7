using BuildGrid.Core.Errors;
using BuildGrid.Gateway.ImageMarket.V1;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace BuildGrid.Gateway.Dialects.ImageMarket;

/// <summary>
/// Applies the image market's table to every call of <see cref="ImageMarketService"/> in one place: the document answers
/// every outcome with an envelope, so a failure becomes one — unreadable input 10006, a domain error the code
/// <see cref="ImageMarketCodes.For"/> gives for this call (the same reason is a different code per call), anything
/// unexpected 10100 (logged, never leaked). Only 401/403 leave the envelope: re-raised for
/// <see cref="ImageMarketErrors"/>, which answers them with their HTTP status and 10401/10403.
/// </summary>
internal sealed class ImageMarketAnswers(ILogger<ImageMarketService> logger) : Interceptor
{
    static readonly Dictionary<string, string> ProjectNameFields = new() { ["name"] = "projectName" };
    static readonly Dictionary<string, string> CloneFields = new() { ["source_name"] = "srcProjectName", ["target_name"] = "dstProjectName" };
    static readonly Dictionary<string, string> SaveFields = new() { ["name"] = "project", ["cluster"] = "Cluster", ["dockerfile"] = "Dockerfile", ["plugins"] = "$$plugin" };
    static readonly Dictionary<string, string> ListFields = new() { ["name_contains"] = "projectName" };
    static readonly Dictionary<string, string> BuildFields = new() { ["name"] = "projectName", ["project"] = "projectName" };
    static readonly Dictionary<string, string> NewFields = new() { ["name"] = "projectName", ["cluster"] = "Cluster" };
    static readonly Dictionary<string, string> NoFields = new();

    /// <summary>Each method's call (which decides the code of a reason) and the names its callers know the fields by.</summary>
    static readonly Dictionary<string, (Call Call, IReadOnlyDictionary<string, string> Fields)> Calls = new(StringComparer.Ordinal)
    {
        ["NewProject"] = (Call.New, NewFields),
        ["DeleteProject"] = (Call.Delete, ProjectNameFields),
        ["CloneProject"] = (Call.Clone, CloneFields),
        ["ProjectInfo"] = (Call.Info, ProjectNameFields),
        ["ListProjects"] = (Call.List, ListFields),
        ["SaveProject"] = (Call.Save, SaveFields),
        ["PluginInterface"] = (Call.Plugin, NoFields),
        ["BuildProject"] = (Call.Build, BuildFields),
        ["BuildHistory"] = (Call.BuildHistory, ProjectNameFields),
        ["ViewConfig"] = (Call.View, ProjectNameFields),
    };

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var (call, fields) = Calls[context.Method[(context.Method.LastIndexOf('/') + 1)..]];
        try
        {
            return await continuation(request, context);
        }
        catch (BadBodyException e)
        {
            return As<TResponse>(ImageMarketCodes.Invalid(e.Message));
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unauthenticated or StatusCode.PermissionDenied)
        {
            throw DialectErrors.Raise(e.StatusCode, e.Info()?.Reason ?? e.StatusCode.ToString().ToUpperInvariant(), e.Status.Detail);
        }
        catch (RpcException e) when (ImageMarketCodes.For(call, e, fields) is { } envelope)
        {
            return As<TResponse>(envelope);
        }
        catch (Exception e) when (!context.CancellationToken.IsCancellationRequested)
        {
            Log.ImageMarketCallFailed(logger, call.ToString(), e);
            return As<TResponse>(ImageMarketCodes.InternalError());
        }
    }

    /// <summary>The envelope as the method's response: viewConfig answers its fields beside <c>data</c>.</summary>
    static TResponse As<TResponse>(Envelope envelope) => envelope is TResponse response
        ? response
        : (TResponse)(object)new ViewConfigResponse { Code = envelope.Code, ErrMsg = envelope.ErrMsg, Content = envelope.Content };
}
