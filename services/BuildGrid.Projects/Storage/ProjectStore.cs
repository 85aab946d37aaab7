using System.Data.Common;
using System.Text.Json;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Events;
using BuildGrid.Core.Storage;
using BuildGrid.Events.V1;
using BuildGrid.Projects.V1;
using Dapper;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace BuildGrid.Projects.Storage;

/// <summary>All SQL of the projects table. Every write commits its integration event in the same transaction.</summary>
public sealed class ProjectStore([FromKeyedServices(ProjectsExtensions.AppId)] ServiceDatabase db, Outbox outbox, TimeProvider time)
{
    const string Columns = """
        name AS Name, cluster AS Cluster, dockerfile_type AS DockerfileType, dockerfile AS Dockerfile, plugins AS Plugins,
        creator AS Creator, created_at AS CreatedAt, updated_at AS UpdatedAt, update_operator AS UpdateOperator, version AS Version,
        last_build_run_id AS LastBuildRunId, last_build_status AS LastBuildStatus, last_build_tag AS LastBuildTag,
        last_build_digest AS LastBuildDigest, last_build_at AS LastBuildAt, build_context AS BuildContext
        """;
    const string ByName = $"SELECT {Columns} FROM projects WHERE name = @name";
    const string Insert = """
        INSERT INTO projects (name, cluster, dockerfile_type, dockerfile, plugins, creator, created_at, updated_at, update_operator, version, build_context)
        VALUES (@Name, @Cluster, @DockerfileType, @Dockerfile, @Plugins, @Creator, @CreatedAt, @UpdatedAt, @UpdateOperator, @Version, @BuildContext)
        """;
    const string Update = """
        UPDATE projects SET cluster = @Cluster, dockerfile_type = @DockerfileType, dockerfile = @Dockerfile, plugins = @Plugins,
            updated_at = @UpdatedAt, update_operator = @UpdateOperator, version = @Version, build_context = @BuildContext
        WHERE name = @Name AND version = @PreviousVersion
        """;

    static readonly JsonParser StepParser = new(JsonParser.Settings.Default);

    public async Task<Project?> FindAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<ProjectRow>(new CommandDefinition(ByName, new { name }, cancellationToken: cancellationToken));
        return row?.ToProto();
    }

    /// <summary>A page of projects by name; <paramref name="clusters"/> (null: all) limits it to the clusters the caller may read.</summary>
    public async Task<(IReadOnlyList<Project> Projects, long Total)> ListAsync(int offset, int limit, string? nameContains,
        IReadOnlyCollection<string>? clusters, CancellationToken cancellationToken)
    {
        var filters = new List<string>();
        var parameters = new DynamicParameters(new { offset, limit, pattern = "%" + SqlText.EscapeLike(nameContains ?? "") + "%" });
        if (!string.IsNullOrEmpty(nameContains)) filters.Add(SqlText.Like($@"name {db.Dialect.LikeOperator} @pattern ESCAPE '\'", nameContains));
        if (clusters is not null) filters.Add(clusters.Count == 0 ? "1 = 0" : "cluster IN " + SqlText.InList(parameters, "cluster", clusters));
        var filter = filters.Count > 0 ? "WHERE " + string.Join(" AND ", filters) : "";
        await using var connection = await db.OpenAsync(cancellationToken);
        var total = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            $"SELECT COUNT(*) FROM projects {filter}", parameters, cancellationToken: cancellationToken));
        var rows = total <= offset ? [] : await connection.QueryAsync<ProjectRow>(new CommandDefinition(
            $"SELECT {Columns} FROM projects {filter} ORDER BY name {db.Dialect.Page}", parameters, cancellationToken: cancellationToken));
        return (rows.Select(r => r.ToProto()).ToList(), total);
    }

    /// <summary>Inserts a new project; ALREADY_EXISTS when the name is taken (the unique index decides races).</summary>
    public async Task<Project> InsertAsync(Project project, string? clonedFrom, CancellationToken cancellationToken)
    {
        db.RequireRoom();
        var row = ProjectRow.From(project);
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        try
        {
            await connection.ExecuteAsync(new CommandDefinition(Insert, row, tx, cancellationToken: cancellationToken));
        }
        catch (DbException e) when (db.Dialect.IsUniqueViolation(e))
        {
            throw Errors.AlreadyExists(Reasons.ProjectAlreadyExists, "project", project.Name);
        }
        await outbox.AddAsync(connection, tx, new ProjectCreated
        {
            Name = project.Name, Cluster = project.Cluster, Operator = project.Creator, Time = project.CreateTime, ClonedFrom = clonedFrom ?? "",
        }, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        outbox.Wake(db);
        return project;
    }

    /// <summary>
    /// Reads, changes and writes one project in one transaction. The write is conditional on the version read, so a
    /// concurrent writer is never overwritten silently; <paramref name="expectedVersion"/> (if not 0) must match too.
    /// </summary>
    public async Task<Project> UpdateAsync(string name, long expectedVersion, Action<Project> change, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var current = (await connection.QuerySingleOrDefaultAsync<ProjectRow>(new CommandDefinition(ByName, new { name }, tx,
            cancellationToken: cancellationToken)))?.ToProto() ?? throw Errors.NotFound(Reasons.ProjectNotFound, "project", name);
        if (expectedVersion != 0 && current.Version != expectedVersion)
            throw Errors.Conflict(Reasons.ConcurrentModification,
                $"project '{name}' is at version {current.Version}, not {expectedVersion}", ("version", current.Version.ToString()));
        var updated = current.Clone();
        change(updated);
        updated.Version = current.Version + 1;
        var row = ProjectRow.From(updated);
        var changed = await connection.ExecuteAsync(new CommandDefinition(Update, new
        {
            row.Name, row.Cluster, row.DockerfileType, row.Dockerfile, row.Plugins, row.UpdatedAt, row.UpdateOperator, row.Version, row.BuildContext,
            PreviousVersion = current.Version,
        }, tx, cancellationToken: cancellationToken));
        if (changed != 1)
            throw Errors.Conflict(Reasons.ConcurrentModification, $"project '{name}' was changed concurrently; retry");
        await outbox.AddAsync(connection, tx, new ProjectUpdated
        {
            Name = updated.Name, Cluster = updated.Cluster, Operator = updated.UpdateOperator, Time = updated.UpdateTime, Version = updated.Version,
        }, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        outbox.Wake(db);
        return updated;
    }

    public async Task DeleteAsync(string name, string @operator, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var cluster = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT cluster FROM projects WHERE name = @name", new { name }, tx, cancellationToken: cancellationToken));
        if (cluster is null || await connection.ExecuteAsync(new CommandDefinition(
                "DELETE FROM projects WHERE name = @name", new { name }, tx, cancellationToken: cancellationToken)) != 1)
            throw Errors.NotFound(Reasons.ProjectNotFound, "project", name);
        await outbox.AddAsync(connection, tx, new ProjectDeleted
        {
            Name = name, Cluster = cluster, Operator = @operator, Time = Timestamp.FromDateTimeOffset(time.GetUtcNow()),
        }, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        outbox.Wake(db);
    }

    /// <summary>
    /// Records a finished build as the project's last one — once per event (the inbox), and never over a newer one:
    /// events of concurrent builds may arrive in any order.
    /// </summary>
    public async Task RecordBuildAsync(CloudEvent cloudEvent, BuildFinished build, CancellationToken cancellationToken)
    {
        var at = build.Time?.ToDateTimeOffset().ToUnixTimeMilliseconds() ?? time.GetUtcNow().ToUnixTimeMilliseconds();
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        if (await Inbox.TryRecordAsync(connection, tx, cloudEvent, cancellationToken))
        {
            await connection.ExecuteAsync(new CommandDefinition("""
                UPDATE projects SET last_build_run_id = @runId, last_build_status = @status, last_build_tag = @tag,
                    last_build_digest = @digest, last_build_at = @at
                WHERE name = @name AND last_build_at <= @at
                """, new { name = build.Project, runId = build.RunId, status = build.Status, tag = build.Tag, digest = build.ImageDigest, at },
                tx, cancellationToken: cancellationToken));
        }
        await tx.CommitAsync(cancellationToken);
    }


    sealed class ProjectRow
    {
        public string Name { get; init; } = "";
        public string Cluster { get; init; } = "";
        public long DockerfileType { get; init; }
        public string Dockerfile { get; init; } = "";
        public string Plugins { get; init; } = "[]";
        public string Creator { get; init; } = "";
        public long CreatedAt { get; init; }
        public long UpdatedAt { get; init; }
        public string UpdateOperator { get; init; } = "";
        public long Version { get; init; }
        public string LastBuildRunId { get; init; } = "";
        public string LastBuildStatus { get; init; } = "";
        public string LastBuildTag { get; init; } = "";
        public string LastBuildDigest { get; init; } = "";
        public long LastBuildAt { get; init; }
        public string BuildContext { get; init; } = "";

        public Project ToProto()
        {
            var project = new Project
            {
                Name = Name,
                Cluster = Cluster,
                DockerfileType = (DockerfileType)DockerfileType,
                Dockerfile = Dockerfile,
                Creator = Creator,
                CreateTime = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt)),
                UpdateTime = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(UpdatedAt)),
                UpdateOperator = UpdateOperator,
                Version = Version,
                LastBuild = LastBuildRunId.Length == 0 ? null : new LastBuild
                {
                    RunId = LastBuildRunId, Status = LastBuildStatus, Tag = LastBuildTag, ImageDigest = LastBuildDigest,
                    FinishTime = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(LastBuildAt)),
                },
            };
            if (BuildContext.Length > 0)
                project.BuildContext = StepParser.Parse<V1.BuildContext>(BuildContext);
            using var steps = JsonDocument.Parse(Plugins);
            foreach (var step in steps.RootElement.EnumerateArray())
                project.Plugins.Add(StepParser.Parse<PluginStep>(step.GetRawText()));
            return project;
        }

        public static ProjectRow From(Project project) => new()
        {
            Name = project.Name,
            Cluster = project.Cluster,
            DockerfileType = (long)project.DockerfileType,
            Dockerfile = project.Dockerfile,
            Plugins = "[" + string.Join(",", project.Plugins.Select(s => JsonFormatter.Default.Format(s))) + "]",
            Creator = project.Creator,
            CreatedAt = project.CreateTime.ToDateTimeOffset().ToUnixTimeMilliseconds(),
            UpdatedAt = project.UpdateTime.ToDateTimeOffset().ToUnixTimeMilliseconds(),
            UpdateOperator = project.UpdateOperator,
            Version = project.Version,
            BuildContext = project.BuildContext is null ? "" : JsonFormatter.Default.Format(project.BuildContext),
        };
    }
}
