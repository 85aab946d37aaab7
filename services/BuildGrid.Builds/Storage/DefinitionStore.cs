using System.Data.Common;
using BuildGrid.Builds.V1;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Storage;
using Dapper;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.DataProtection;

namespace BuildGrid.Builds.Storage;

/// <summary>
/// All SQL of build definitions, templates and code hosts. A row holds its resource as proto JSON; credential
/// parameter values and template inputs are encrypted before they are written and decrypted when read, so callers of
/// this store see clear values (the gRPC service masks them before answering). So are code hosts' tokens.
/// </summary>
public sealed class DefinitionStore([FromKeyedServices(BuildsExtensions.AppId)] ServiceDatabase db, IDataProtectionProvider protection)
{
    static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default);
    static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));
    readonly IDataProtector secrets = protection.CreateProtector("BuildGrid.Builds.DefinitionSecrets");

    // ---- definitions ----

    public async Task InsertDefinitionAsync(Definition definition, CancellationToken cancellationToken)
    {
        db.RequireRoom();
        await using var connection = await db.OpenAsync(cancellationToken);
        try
        {
            await connection.ExecuteAsync(new CommandDefinition("""
                INSERT INTO build_definitions (project_key, name, template_name, definition, update_by, update_time, create_time)
                VALUES (@ProjectKey, @Name, @TemplateName, @Json, @UpdateBy, @UpdateTime, @CreateTime)
                """, DefinitionParameters(definition), cancellationToken: cancellationToken));
        }
        catch (DbException e) when (db.Dialect.IsUniqueViolation(e))
        {
            throw Errors.AlreadyExists(Reasons.BuildDefinitionAlreadyExists, "build", $"{definition.ProjectKey}/{definition.Name}");
        }
        catch (DbException e) when (db.Dialect.IsForeignKeyViolation(e))
        {
            throw TemplateGone(definition.TemplateName);
        }
    }

    static global::Grpc.Core.RpcException TemplateGone(string name) =>
        Errors.Create(Google.Rpc.Code.NotFound, Reasons.BuildTemplateNotFound, $"template_name '{name}': no such build template",
            ("id", name), ("field", "template_name"));

    /// <summary>
    /// Replaces a definition with what <paramref name="replace"/> makes of the stored one, in one transaction (the row is
    /// locked first, so the stored values it reads are the ones it replaces); null when there is none.
    /// </summary>
    public async Task<Definition?> ReplaceDefinitionAsync(string projectKey, string name, Func<Definition, Definition> replace,
        CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var key = new { projectKey, name };
        if (await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE build_definitions SET update_time = update_time WHERE project_key = @projectKey AND name = @name", key, tx,
                cancellationToken: cancellationToken)) != 1)
            return null;
        var json = await connection.QuerySingleAsync<string>(new CommandDefinition(
            "SELECT definition FROM build_definitions WHERE project_key = @projectKey AND name = @name", key, tx, cancellationToken: cancellationToken));
        var definition = replace(ReadDefinition(json));
        try
        {
            await connection.ExecuteAsync(new CommandDefinition("""
                UPDATE build_definitions SET template_name = @TemplateName, definition = @Json, update_by = @UpdateBy, update_time = @UpdateTime
                WHERE project_key = @ProjectKey AND name = @Name
                """, DefinitionParameters(definition), tx, cancellationToken: cancellationToken));
        }
        catch (DbException e) when (db.Dialect.IsForeignKeyViolation(e))
        {
            throw TemplateGone(definition.TemplateName);
        }
        await tx.CommitAsync(cancellationToken);
        return definition;
    }

    object DefinitionParameters(Definition definition)
    {
        var stored = definition.Clone();
        foreach (var parameter in stored.Parameters.Where(p => p.IsCredential))
            parameter.DefaultValue = secrets.Protect(parameter.DefaultValue);
        foreach (var input in stored.TargetServices.SelectMany(t => t.Inputs))
            input.Value = secrets.Protect(input.Value);
        return new
        {
            definition.ProjectKey, definition.Name, TemplateName = definition.TemplateName.Length > 0 ? definition.TemplateName : null,
            Json = Formatter.Format(stored), definition.UpdateBy,
            UpdateTime = Millis(definition.UpdateTime), CreateTime = Millis(definition.CreateTime),
        };
    }

    Definition ReadDefinition(string json)
    {
        var definition = Parser.Parse<Definition>(json);
        foreach (var parameter in definition.Parameters.Where(p => p.IsCredential))
            parameter.DefaultValue = secrets.Unprotect(parameter.DefaultValue);
        foreach (var input in definition.TargetServices.SelectMany(t => t.Inputs))
            input.Value = secrets.Unprotect(input.Value);
        return definition;
    }

    public async Task<Definition?> GetDefinitionAsync(string projectKey, string name, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var json = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT definition FROM build_definitions WHERE project_key = @projectKey AND name = @name", new { projectKey, name },
            cancellationToken: cancellationToken));
        return json is null ? null : ReadDefinition(json);
    }

    public async Task<(IReadOnlyList<Definition> Definitions, long Total)> ListDefinitionsAsync(string projectKey, int offset, int limit,
        CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var total = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM build_definitions WHERE project_key = @projectKey", new { projectKey }, cancellationToken: cancellationToken));
        var rows = await connection.QueryAsync<string>(new CommandDefinition(
            $"SELECT definition FROM build_definitions WHERE project_key = @projectKey ORDER BY name {db.Dialect.Page}",
            new { projectKey, offset, limit }, cancellationToken: cancellationToken));
        return (rows.Select(ReadDefinition).ToList(), total);
    }

    public async Task<bool> DeleteDefinitionAsync(string projectKey, string name, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM build_definitions WHERE project_key = @projectKey AND name = @name", new { projectKey, name },
            cancellationToken: cancellationToken)) == 1;
    }

    // ---- templates ----

    public async Task InsertTemplateAsync(Template template, CancellationToken cancellationToken)
    {
        db.RequireRoom();
        await using var connection = await db.OpenAsync(cancellationToken);
        try
        {
            await connection.ExecuteAsync(new CommandDefinition("""
                INSERT INTO build_templates (name, template, update_by, update_time, create_time)
                VALUES (@Name, @Json, @UpdateBy, @UpdateTime, @CreateTime)
                """, TemplateParameters(template), cancellationToken: cancellationToken));
        }
        catch (DbException e) when (db.Dialect.IsUniqueViolation(e))
        {
            throw Errors.AlreadyExists(Reasons.BuildTemplateAlreadyExists, "build template", template.Name);
        }
    }

    /// <summary>Replaces a template with what <paramref name="replace"/> makes of the stored one, in one transaction; null when there is none.</summary>
    public async Task<Template?> ReplaceTemplateAsync(string name, Func<Template, Template> replace, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        if (await connection.ExecuteAsync(new CommandDefinition("UPDATE build_templates SET update_time = update_time WHERE name = @name",
                new { name }, tx, cancellationToken: cancellationToken)) != 1)
            return null;
        var json = await connection.QuerySingleAsync<string>(new CommandDefinition("SELECT template FROM build_templates WHERE name = @name",
            new { name }, tx, cancellationToken: cancellationToken));
        var template = replace(ReadTemplate(json));
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE build_templates SET template = @Json, update_by = @UpdateBy, update_time = @UpdateTime WHERE name = @Name",
            TemplateParameters(template), tx, cancellationToken: cancellationToken));
        await tx.CommitAsync(cancellationToken);
        return template;
    }

    object TemplateParameters(Template template)
    {
        var stored = template.Clone();
        foreach (var parameter in stored.Parameters.Where(p => p.IsCredential))
            parameter.DefaultValue = secrets.Protect(parameter.DefaultValue);
        return new
        {
            template.Name, Json = Formatter.Format(stored), template.UpdateBy,
            UpdateTime = Millis(template.UpdateTime), CreateTime = Millis(template.CreateTime),
        };
    }

    Template ReadTemplate(string json)
    {
        var template = Parser.Parse<Template>(json);
        foreach (var parameter in template.Parameters.Where(p => p.IsCredential))
            parameter.DefaultValue = secrets.Unprotect(parameter.DefaultValue);
        return template;
    }

    public async Task<Template?> GetTemplateAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var json = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT template FROM build_templates WHERE name = @name", new { name }, cancellationToken: cancellationToken));
        return json is null ? null : ReadTemplate(json);
    }

    public async Task<IReadOnlyList<Template>> ListTemplatesAsync(CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<string>(new CommandDefinition(
            "SELECT template FROM build_templates ORDER BY name", cancellationToken: cancellationToken));
        return rows.Select(ReadTemplate).ToList();
    }

    /// <summary>Deletes a template no definition uses, in one transaction; false when there is none.</summary>
    public async Task<bool> DeleteTemplateAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        // The foreign key decides; this read only names a build in the message.
        var user = await connection.QueryFirstOrDefaultAsync<UsedBy>(new CommandDefinition(
            "SELECT project_key AS ProjectKey, name AS Name FROM build_definitions WHERE template_name = @name ORDER BY project_key, name",
            new { name }, tx, cancellationToken: cancellationToken));
        if (user is { } used)
            throw Errors.Create(Google.Rpc.Code.FailedPrecondition, Reasons.BuildTemplateInUse,
                $"build template '{name}' is used by build '{used.ProjectKey}/{used.Name}'", ("id", name));
        int deleted;
        try
        {
            deleted = await connection.ExecuteAsync(new CommandDefinition("DELETE FROM build_templates WHERE name = @name", new { name }, tx,
                cancellationToken: cancellationToken));
        }
        catch (DbException e) when (db.Dialect.IsForeignKeyViolation(e))
        {
            throw Errors.Create(Google.Rpc.Code.FailedPrecondition, Reasons.BuildTemplateInUse, $"build template '{name}' is used by a build", ("id", name));
        }
        await tx.CommitAsync(cancellationToken);
        return deleted == 1;
    }

    // ---- code hosts ----

    public async Task InsertCodeHostAsync(CodeHost host, CancellationToken cancellationToken)
    {
        db.RequireRoom();
        await using var connection = await db.OpenAsync(cancellationToken);
        try
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO code_hosts (name, code_host, update_time, create_time) VALUES (@Name, @Json, @UpdateTime, @CreateTime)",
                CodeHostParameters(host), cancellationToken: cancellationToken));
        }
        catch (DbException e) when (db.Dialect.IsUniqueViolation(e))
        {
            throw Errors.AlreadyExists(Reasons.CodeHostAlreadyExists, "code host", host.Name);
        }
    }

    public async Task<bool> UpdateCodeHostAsync(CodeHost host, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE code_hosts SET code_host = @Json, update_time = @UpdateTime WHERE name = @Name",
            CodeHostParameters(host), cancellationToken: cancellationToken)) == 1;
    }

    /// <summary>The row of a code host: its token encrypted.</summary>
    object CodeHostParameters(CodeHost host)
    {
        var stored = host.Clone();
        if (stored.Token.Length > 0)
            stored.Token = secrets.Protect(stored.Token);
        stored.HasToken = false;
        return new { host.Name, Json = Formatter.Format(stored), UpdateTime = Millis(host.UpdateTime), CreateTime = Millis(host.CreateTime) };
    }

    /// <summary>
    /// A stored code host with its token in clear. A row from before tokens were kept apart may still carry one in its
    /// URL: it is split off here, so neither answers nor runs see it in the URL.
    /// </summary>
    CodeHost ReadCodeHost(string json)
    {
        var host = Parser.Parse<CodeHost>(json);
        if (host.Token.Length > 0)
            host.Token = secrets.Unprotect(host.Token);
        var (url, username, secret) = Domain.GitCredentials.Split(host.Url);
        if (secret is not null)
        {
            host.Url = url;
            if (host.Token.Length == 0)
                (host.Username, host.Token) = (username!, secret);
        }
        host.HasToken = host.Token.Length > 0;
        return host;
    }

    public async Task<CodeHost?> GetCodeHostAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var json = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT code_host FROM code_hosts WHERE name = @name", new { name }, cancellationToken: cancellationToken));
        return json is null ? null : ReadCodeHost(json);
    }

    public async Task<IReadOnlyList<CodeHost>> ListCodeHostsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<string>(new CommandDefinition("SELECT code_host FROM code_hosts ORDER BY name",
            cancellationToken: cancellationToken));
        return rows.Select(ReadCodeHost).ToList();
    }

    public async Task<bool> DeleteCodeHostAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition("DELETE FROM code_hosts WHERE name = @name", new { name },
            cancellationToken: cancellationToken)) == 1;
    }

    sealed record UsedBy(string ProjectKey, string Name);

    static long Millis(Timestamp? time) => time is null ? 0 : time.ToDateTimeOffset().ToUnixTimeMilliseconds();
}
