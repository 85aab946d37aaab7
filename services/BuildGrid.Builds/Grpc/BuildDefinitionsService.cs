using BuildGrid.Builds.Domain;
using BuildGrid.Builds.Queue;
using BuildGrid.Builds.Storage;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Identity;
using BuildGrid.Core.Errors;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace BuildGrid.Builds.Grpc;

/// <summary>
/// The BuildDefinitions gRPC API: definitions, templates and code hosts over <see cref="DefinitionStore"/>, and
/// starting a definition's run (<see cref="DefinitionExpander"/> makes the RunSpec, <see cref="RunLauncher"/> queues it).
/// Credential values never leave this class in clear: answers carry <see cref="DefinitionRules.Mask"/>.
/// Access: a definition's namespace is its Zadig project key (reading needs guest there, creating, changing and
/// running developer, deleting owner); templates are read by any signed-in caller and written by administrators;
/// code hosts hold access tokens, so they are administrators' alone.
/// </summary>
public sealed class BuildDefinitionsService(DefinitionStore store, RunLauncher launcher, TimeProvider time) : BuildDefinitions.BuildDefinitionsBase
{
    const int DefaultPageSize = 20;
    const int MaxPageSize = 1000;

    Timestamp Now() => Timestamp.FromDateTimeOffset(time.GetUtcNow());

    /// <summary>The authenticated caller; the body's operator counts only for the protected-mode caller.</summary>
    static string OperatorOf(string requested, ServerCallContext context)
    {
        var trimmed = requested.Trim();
        return Access.Operator(context, trimmed.Length > 0 ? trimmed[..Math.Min(64, trimmed.Length)] : null);
    }

    // ---- definitions ----

    public override async Task<Definition> CreateDefinition(CreateDefinitionRequest request, ServerCallContext context)
    {
        var definition = request.Definition ?? throw Errors.Invalid(Reasons.InvalidArgument, "definition", "definition is required");
        await ValidateAsync(definition, context.CancellationToken);
        Access.Require(context, definition.ProjectKey, Role.Developer);
        definition.UpdateBy = OperatorOf(request.Operator, context);
        definition.UpdateTime = definition.CreateTime = Now();
        await store.InsertDefinitionAsync(definition, context.CancellationToken);
        return await MaskedAsync(definition, context.CancellationToken);
    }

    public override async Task<Definition> UpdateDefinition(UpdateDefinitionRequest request, ServerCallContext context)
    {
        var definition = request.Definition ?? throw Errors.Invalid(Reasons.InvalidArgument, "definition", "definition is required");
        await ValidateAsync(definition, context.CancellationToken);
        Access.Require(context, definition.ProjectKey, Role.Developer);
        definition.UpdateBy = OperatorOf(request.Operator, context);
        definition.UpdateTime = Now();
        var replaced = await store.ReplaceDefinitionAsync(definition.ProjectKey, definition.Name, existing =>
        {
            KeepMaskedValues(definition.Parameters, existing.Parameters);
            foreach (var target in definition.TargetServices)
            {
                var before = existing.TargetServices.FirstOrDefault(t => t.ServiceName == target.ServiceName && t.ServiceModule == target.ServiceModule);
                foreach (var input in target.Inputs.Where(i => i.Value == DefinitionRules.Mask))
                    input.Value = before?.Inputs.LastOrDefault(i => i.Key == input.Key)?.Value ?? "";
            }
            definition.CreateTime = existing.CreateTime;
            return definition;
        }, context.CancellationToken) ?? throw Errors.NotFound(Reasons.BuildDefinitionNotFound, "build", $"{definition.ProjectKey}/{definition.Name}");
        return await MaskedAsync(replaced, context.CancellationToken);
    }

    /// <summary>Rules for either kind; a template-made definition's template must exist and declare its inputs.</summary>
    async Task ValidateAsync(Definition definition, CancellationToken cancellationToken)
    {
        if (definition.TemplateName.Length == 0)
        {
            DefinitionRules.ValidateDefinition(definition);
            return;
        }
        DefinitionRules.ValidateTemplateDefinition(definition);
        var template = await store.GetTemplateAsync(definition.TemplateName, cancellationToken)
            ?? throw Errors.Create(Google.Rpc.Code.NotFound, Reasons.BuildTemplateNotFound, $"template_name '{definition.TemplateName}': no such build template",
                ("id", definition.TemplateName), ("field", "template_name"));
        for (var i = 0; i < definition.TargetServices.Count; i++)
        {
            var inputs = definition.TargetServices[i].Inputs;
            for (var k = 0; k < inputs.Count; k++)
            {
                if (template.Parameters.All(p => p.Key != inputs[k].Key))
                    throw Errors.Invalid(Reasons.InvalidArgument, $"target_services[{i}].inputs[{k}].key",
                        $"target_services[{i}].inputs[{k}].key '{inputs[k].Key}' is not a parameter of build template '{template.Name}'");
            }
        }
    }

    public override async Task<Definition> GetDefinition(GetDefinitionRequest request, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        Access.Require(context, request.ProjectKey, Role.Guest);
        var definition = await FindAsync(request.ProjectKey, request.Name, ct);
        var target = DefinitionExpander.Target(definition, request.ServiceName, request.ServiceModule);
        var template = definition.TemplateName.Length > 0 ? await store.GetTemplateAsync(definition.TemplateName, ct) : null;
        return Masked(DefinitionExpander.Effective(definition, template, target), template);
    }

    public override async Task<ListDefinitionsResponse> ListDefinitions(ListDefinitionsRequest request, ServerCallContext context)
    {
        DefinitionRules.ValidateName(request.ProjectKey, "project_key");
        Access.Require(context, request.ProjectKey, Role.Guest);
        if (request.Page < 0)
            throw Errors.Invalid(Reasons.InvalidArgument, "page", "page must be 1 or more");
        if (request.PageSize < 0)
            throw Errors.Invalid(Reasons.InvalidArgument, "page_size", "page_size must be 1 or more");
        var page = Math.Max(1, request.Page);
        var size = request.PageSize == 0 ? DefaultPageSize : Math.Min(request.PageSize, MaxPageSize);
        var offset = (long)(page - 1) * size;
        if (offset > int.MaxValue)
            throw Errors.Invalid(Reasons.InvalidArgument, "page", "page is too large");
        var (definitions, total) = await store.ListDefinitionsAsync(request.ProjectKey, (int)offset, size, context.CancellationToken);
        var templates = definitions.Any(d => d.TemplateName.Length > 0)
            ? (await store.ListTemplatesAsync(context.CancellationToken)).ToDictionary(t => t.Name, StringComparer.Ordinal)
            : [];
        var response = new ListDefinitionsResponse { Total = total, Page = page, PageSize = size };
        foreach (var definition in definitions)
            response.Definitions.Add(Masked(definition, templates.GetValueOrDefault(definition.TemplateName)));
        return response;
    }

    public override async Task<Empty> DeleteDefinition(DeleteDefinitionRequest request, ServerCallContext context)
    {
        Access.Require(context, request.ProjectKey, Role.Owner);
        if (!await store.DeleteDefinitionAsync(request.ProjectKey, request.Name, context.CancellationToken))
            throw Errors.NotFound(Reasons.BuildDefinitionNotFound, "build", $"{request.ProjectKey}/{request.Name}");
        return new Empty();
    }

    async Task<Definition> FindAsync(string projectKey, string name, CancellationToken cancellationToken) =>
        await store.GetDefinitionAsync(projectKey, name, cancellationToken)
        ?? throw Errors.NotFound(Reasons.BuildDefinitionNotFound, "build", $"{projectKey}/{name}");

    // ---- templates ----

    public override async Task<Template> CreateTemplate(Template request, ServerCallContext context)
    {
        Access.RequireAdmin(context);
        DefinitionRules.ValidateTemplate(request);
        request.UpdateBy = OperatorOf("", context);
        request.UpdateTime = request.CreateTime = Now();
        await store.InsertTemplateAsync(request, context.CancellationToken);
        return Masked(request);
    }

    public override async Task<Template> UpdateTemplate(Template request, ServerCallContext context)
    {
        Access.RequireAdmin(context);
        DefinitionRules.ValidateTemplate(request);
        request.UpdateBy = OperatorOf("", context);
        request.UpdateTime = Now();
        var replaced = await store.ReplaceTemplateAsync(request.Name, existing =>
        {
            KeepMaskedValues(request.Parameters, existing.Parameters);
            request.CreateTime = existing.CreateTime;
            return request;
        }, context.CancellationToken) ?? throw Errors.NotFound(Reasons.BuildTemplateNotFound, "build template", request.Name);
        return Masked(replaced);
    }

    public override async Task<Template> GetTemplate(GetTemplateRequest request, ServerCallContext context) =>
        Masked(await store.GetTemplateAsync(request.Name, context.CancellationToken)
            ?? throw Errors.NotFound(Reasons.BuildTemplateNotFound, "build template", request.Name));

    public override async Task<ListTemplatesResponse> ListTemplates(ListTemplatesRequest request, ServerCallContext context) =>
        new() { Templates = { (await store.ListTemplatesAsync(context.CancellationToken)).Select(Masked) } };

    public override async Task<Empty> DeleteTemplate(DeleteTemplateRequest request, ServerCallContext context)
    {
        Access.RequireAdmin(context);
        if (!await store.DeleteTemplateAsync(request.Name, context.CancellationToken))
            throw Errors.NotFound(Reasons.BuildTemplateNotFound, "build template", request.Name);
        return new Empty();
    }

    // ---- code hosts ----

    public override async Task<CodeHost> CreateCodeHost(CodeHost request, ServerCallContext context)
    {
        Access.RequireAdmin(context);
        DefinitionRules.ValidateCodeHost(request);
        TakeCredentials(request, null);
        request.UpdateTime = request.CreateTime = Now();
        await store.InsertCodeHostAsync(request, context.CancellationToken);
        return WithoutToken(request);
    }

    public override async Task<CodeHost> UpdateCodeHost(CodeHost request, ServerCallContext context)
    {
        Access.RequireAdmin(context);
        DefinitionRules.ValidateCodeHost(request);
        var existing = await store.GetCodeHostAsync(request.Name, context.CancellationToken)
            ?? throw Errors.NotFound(Reasons.CodeHostNotFound, "code host", request.Name);
        TakeCredentials(request, existing);
        request.UpdateTime = Now();
        request.CreateTime = existing.CreateTime;
        if (!await store.UpdateCodeHostAsync(request, context.CancellationToken))
            throw Errors.NotFound(Reasons.CodeHostNotFound, "code host", request.Name);
        return WithoutToken(request);
    }

    public override async Task<CodeHost> GetCodeHost(GetCodeHostRequest request, ServerCallContext context)
    {
        Access.RequireAdmin(context);
        return WithoutToken(await store.GetCodeHostAsync(request.Name, context.CancellationToken)
            ?? throw Errors.NotFound(Reasons.CodeHostNotFound, "code host", request.Name));
    }

    public override async Task<ListCodeHostsResponse> ListCodeHosts(ListCodeHostsRequest request, ServerCallContext context)
    {
        Access.RequireAdmin(context);
        return new() { CodeHosts = { (await store.ListCodeHostsAsync(context.CancellationToken)).Select(WithoutToken) } };
    }

    /// <summary>
    /// The token is write-only: taken from the request's token or from its URL's user info (the URL is kept without it);
    /// an update without one keeps the stored one.
    /// </summary>
    static void TakeCredentials(CodeHost host, CodeHost? existing)
    {
        var (url, username, secret) = GitCredentials.Split(host.Url);
        host.Url = url;
        if (host.Token.Length == 0 && secret is not null)
            (host.Token, host.Username) = (secret, host.Username.Length > 0 ? host.Username : username!);
        if (host.Token.Length == 0 && existing is not null)
            (host.Token, host.Username) = (existing.Token, host.Username.Length > 0 ? host.Username : existing.Username);
        if (host.Token.Length > 0 && host.Username.Length == 0)
            host.Username = GitCredentials.DefaultUsername;
        if (host.Token.Length > 4096 || host.Token.Any(char.IsControl) || host.Username.Length > 256 || host.Username.Any(char.IsControl))
            throw Errors.Invalid(Reasons.InvalidArgument, "token", "token and username must be at most 4096 and 256 characters, without control characters");
    }

    /// <summary>What an answer shows of a code host: whether it has a token, never the token.</summary>
    static CodeHost WithoutToken(CodeHost host)
    {
        var shown = host.Clone();
        shown.HasToken = shown.Token.Length > 0;
        shown.Token = "";
        return shown;
    }

    public override async Task<Empty> DeleteCodeHost(DeleteCodeHostRequest request, ServerCallContext context)
    {
        Access.RequireAdmin(context);
        if (!await store.DeleteCodeHostAsync(request.Name, context.CancellationToken))
            throw Errors.NotFound(Reasons.CodeHostNotFound, "code host", request.Name);
        return new Empty();
    }

    // ---- runs ----

    public override async Task<Run> StartDefinitionRun(StartDefinitionRunRequest request, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        Access.Require(context, request.ProjectKey, Role.Developer);
        var definition = await FindAsync(request.ProjectKey, request.Name, ct);
        var target = DefinitionExpander.Target(definition, request.ServiceName, request.ServiceModule);
        var template = definition.TemplateName.Length > 0 ? await store.GetTemplateAsync(definition.TemplateName, ct) : null;
        var effective = DefinitionExpander.Effective(definition, template, target);
        var hosts = (await store.ListCodeHostsAsync(ct)).ToDictionary(h => h.Name, StringComparer.Ordinal);
        var tag = request.Tag.Length > 0 ? request.Tag : time.GetUtcNow().ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture);
        RunRules.ValidateTag(tag);
        var (spec, image) = DefinitionExpander.Expand(effective, target, request.Inputs, hosts, tag, launcher.DefaultTimeoutMinutes, IsOnPath);
        RunRules.Validate(spec, launcher.DefaultTimeoutMinutes);
        var run = launcher.NewRun("definition", request.Operator, context, spec, definition.ProjectKey);
        run.Project = definition.ProjectKey;
        run.Definition = definition.Name;
        run.Service = target.ServiceName;
        run.ServiceModule = target.ServiceModule;
        run.Tag = tag;
        run.Image = image;
        return await launcher.QueueAsync(run, spec, ct);
    }

    static bool IsOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, program)));

    // ---- credentials ----

    /// <summary>A credential sent back as the mask keeps the value stored under its key.</summary>
    static void KeepMaskedValues(IEnumerable<Parameter> parameters, IEnumerable<Parameter> stored)
    {
        foreach (var parameter in parameters.Where(p => p.IsCredential && p.DefaultValue == DefinitionRules.Mask))
            parameter.DefaultValue = stored.FirstOrDefault(p => p.Key == parameter.Key && p.IsCredential)?.DefaultValue ?? "";
    }

    static void MaskParameters(IEnumerable<Parameter> parameters)
    {
        foreach (var parameter in parameters.Where(p => p.IsCredential && p.DefaultValue.Length > 0))
            parameter.DefaultValue = DefinitionRules.Mask;
    }

    static Template Masked(Template template)
    {
        var masked = template.Clone();
        MaskParameters(masked.Parameters);
        return masked;
    }

    async Task<Definition> MaskedAsync(Definition definition, CancellationToken cancellationToken) =>
        Masked(definition, definition.TemplateName.Length > 0 ? await store.GetTemplateAsync(definition.TemplateName, cancellationToken) : null);

    /// <summary>Credential parameters masked; a template-made definition's inputs masked where the template calls them credentials
    /// (every input when the template is unknown).</summary>
    static Definition Masked(Definition definition, Template? template)
    {
        var masked = definition.Clone();
        MaskParameters(masked.Parameters);
        foreach (var input in masked.TargetServices.SelectMany(t => t.Inputs))
        {
            if (input.Value.Length > 0 && (template is null || template.Parameters.Any(p => p.Key == input.Key && p.IsCredential)))
                input.Value = DefinitionRules.Mask;
        }
        return masked;
    }
}
