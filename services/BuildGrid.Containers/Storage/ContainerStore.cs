using System.Data.Common;
using BuildGrid.Containers.Domain;
using BuildGrid.Containers.V1;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Events;
using BuildGrid.Core.Storage;
using BuildGrid.Events.V1;
using Dapper;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;

namespace BuildGrid.Containers.Storage;

/// <summary>
/// All SQL of projects, branches, project groups and memberships. Writes run in one write transaction each, commit
/// their integration events in it, and leave uniqueness and existence to the database's constraints (unique indexes,
/// foreign keys with cascades), so that racing writers get a clear answer and never a half-done state.
/// Lists are keyset pages over (name, id); a name filter starts from the names' trigram index (SQLite, three characters
/// or more). See the query plans in the tests.
/// </summary>
public sealed class ContainerStore([FromKeyedServices(ContainersExtensions.AppId)] ServiceDatabase db, Outbox outbox, TimeProvider time)
{
    const string ProjectColumns = "p.id AS Id, p.name AS Name, p.review_with_comment AS ReviewWithComment, p.created_at AS CreatedAt, p.updated_at AS UpdatedAt";
    const string BranchColumns = "b.id AS Id, b.project_id AS ProjectId, b.name AS Name, b.created_at AS CreatedAt, b.updated_at AS UpdatedAt";
    const string GroupColumns = "g.id AS Id, g.name AS Name, g.created_at AS CreatedAt, g.updated_at AS UpdatedAt";

    const string ProjectById = $"SELECT {ProjectColumns} FROM projects p WHERE p.id = @id";
    const string ProjectByName = $"SELECT {ProjectColumns} FROM projects p WHERE p.name = @name";
    const string BranchById = $"SELECT {BranchColumns} FROM branches b WHERE b.id = @id";
    const string GroupById = $"SELECT {GroupColumns} FROM project_groups g WHERE g.id = @id";
    const string GroupByName = $"SELECT {GroupColumns} FROM project_groups g WHERE g.name = @name";

    // ---- projects ----

    public Task<Project> InsertProjectAsync(Project project, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx) =>
        {
            await InsertAsync(connection, tx, """
                INSERT INTO projects (id, name, review_with_comment, created_at, updated_at)
                VALUES (@Id, @Name, @ReviewWithComment, @CreatedAt, @UpdatedAt)
                """, ProjectRow.From(project), () => ContainerRules.AlreadyExists(ContainerKinds.Project, project.Name), cancellationToken);
            await outbox.AddAsync(connection, tx, Created(project.Id, ContainerKinds.Project, project.Name, "", project.CreateTime), cancellationToken);
            return project;
        }, cancellationToken);

    public async Task<Project?> FindProjectAsync(string? id, string? name, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<ProjectRow>(new CommandDefinition(
            id is not null ? ProjectById : ProjectByName, new { id, name }, cancellationToken: cancellationToken));
        return row?.ToProto();
    }

    /// <summary>Projects by name, then id; all of them or the members of <paramref name="groupId"/>.</summary>
    public async Task<(IReadOnlyList<Project> Items, string NextPageToken)> ListProjectsAsync(Page page, string nameContains, string groupId,
        CancellationToken cancellationToken)
    {
        var rows = await QueryPageAsync<ProjectRow>(ProjectsQuery(page, nameContains, groupId), page, nameContains, new { groupId }, cancellationToken);
        return Paged(rows, page, r => r.ToProto(), r => (r.Name, r.Id));
    }

    /// <summary>
    /// A page of projects. A group's members: walk the membership key first (CROSS JOIN fixes that order in SQLite),
    /// then sort that group's projects; never walk every project looking for members.
    /// </summary>
    internal string ProjectsQuery(Page page, string nameContains, string groupId)
    {
        var from = groupId.Length > 0
            ? "project_group_members m CROSS JOIN projects p WHERE m.project_group_id = @groupId AND p.id = m.project_id"
            : Unscoped("projects", "p", nameContains);
        return $"SELECT {ProjectColumns} FROM {from}{Filters("p", page, nameContains)} ORDER BY p.name, p.id";
    }

    public Task<Project> UpdateProjectAsync(string id, string? name, bool? reviewWithComment, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx) =>
        {
            var updated = await LockedAsync<ProjectRow>(connection, tx, "projects", ProjectById, id, cancellationToken) is { } current
                ? current.ToProto() : throw ContainerRules.NotFound(ContainerKinds.Project, id);
            updated.Name = name ?? updated.Name;
            updated.ReviewWithComment = reviewWithComment ?? updated.ReviewWithComment;
            updated.UpdateTime = Now();
            await UpdateAsync(connection, tx, "UPDATE projects SET name = @Name, review_with_comment = @ReviewWithComment, updated_at = @UpdatedAt WHERE id = @Id",
                ProjectRow.From(updated), () => ContainerRules.AlreadyExists(ContainerKinds.Project, updated.Name), cancellationToken);
            return updated;
        }, cancellationToken);

    /// <summary>Deletes a project; the foreign keys' cascades take its branches, their snapshots and its memberships.</summary>
    public Task<Project> DeleteProjectAsync(string id, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx) =>
        {
            var current = (await LockedAsync<ProjectRow>(connection, tx, "projects", ProjectById, id, cancellationToken))?.ToProto()
                ?? throw ContainerRules.NotFound(ContainerKinds.Project, id);
            await connection.ExecuteAsync(new CommandDefinition("DELETE FROM projects WHERE id = @id", new { id }, tx, cancellationToken: cancellationToken));
            await outbox.AddAsync(connection, tx, Deleted(id, ContainerKinds.Project, current.Name, ""), cancellationToken);
            return current;
        }, cancellationToken);

    // ---- branches ----

    public Task<Branch> InsertBranchAsync(Branch branch, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx) =>
        {
            try
            {
                await InsertAsync(connection, tx, """
                    INSERT INTO branches (id, project_id, name, created_at, updated_at)
                    VALUES (@Id, @ProjectId, @Name, @CreatedAt, @UpdatedAt)
                    """, BranchRow.From(branch), () => ContainerRules.AlreadyExists(ContainerKinds.Branch, branch.Name, $" in project '{branch.ProjectId}'"), cancellationToken);
            }
            catch (DbException e) when (db.Dialect.IsForeignKeyViolation(e))
            {
                throw ContainerRules.NotFound(ContainerKinds.Project, branch.ProjectId);
            }
            await outbox.AddAsync(connection, tx, Created(branch.Id, ContainerKinds.Branch, branch.Name, branch.ProjectId, branch.CreateTime), cancellationToken);
            return branch;
        }, cancellationToken);

    public async Task<Branch?> FindBranchAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return (await connection.QuerySingleOrDefaultAsync<BranchRow>(new CommandDefinition(BranchById, new { id }, cancellationToken: cancellationToken)))?.ToProto();
    }

    public async Task<(IReadOnlyList<Branch> Items, string NextPageToken)> ListBranchesAsync(Page page, string nameContains, string projectId,
        CancellationToken cancellationToken)
    {
        var rows = await QueryPageAsync<BranchRow>(BranchesQuery(page, nameContains, projectId), page, nameContains, new { projectId }, cancellationToken);
        return Paged(rows, page, r => r.ToProto(), r => (r.Name, r.Id));
    }

    internal string BranchesQuery(Page page, string nameContains, string projectId)
    {
        var from = projectId.Length > 0 ? "branches b WHERE b.project_id = @projectId" : Unscoped("branches", "b", nameContains);
        return $"SELECT {BranchColumns} FROM {from}{Filters("b", page, nameContains)} ORDER BY b.name, b.id";
    }

    public Task<Branch> RenameBranchAsync(string id, string name, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx) =>
        {
            var current = (await LockedAsync<BranchRow>(connection, tx, "branches", BranchById, id, cancellationToken))?.ToProto()
                ?? throw ContainerRules.NotFound(ContainerKinds.Branch, id);
            current.Name = name;
            current.UpdateTime = Now();
            await UpdateAsync(connection, tx, "UPDATE branches SET name = @Name, updated_at = @UpdatedAt WHERE id = @Id", BranchRow.From(current),
                () => ContainerRules.AlreadyExists(ContainerKinds.Branch, name, $" in project '{current.ProjectId}'"), cancellationToken);
            return current;
        }, cancellationToken);

    public Task<Branch> DeleteBranchAsync(string id, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx) =>
        {
            var current = (await LockedAsync<BranchRow>(connection, tx, "branches", BranchById, id, cancellationToken))?.ToProto()
                ?? throw ContainerRules.NotFound(ContainerKinds.Branch, id);
            await connection.ExecuteAsync(new CommandDefinition("DELETE FROM branches WHERE id = @id", new { id }, tx, cancellationToken: cancellationToken));
            await outbox.AddAsync(connection, tx, Deleted(id, ContainerKinds.Branch, current.Name, current.ProjectId), cancellationToken);
            return current;
        }, cancellationToken);

    // ---- project groups ----

    public Task<ProjectGroup> InsertGroupAsync(ProjectGroup group, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx) =>
        {
            await InsertAsync(connection, tx, """
                INSERT INTO project_groups (id, name, created_at, updated_at) VALUES (@Id, @Name, @CreatedAt, @UpdatedAt)
                """, GroupRow.From(group), () => ContainerRules.AlreadyExists(ContainerKinds.ProjectGroup, group.Name), cancellationToken);
            await outbox.AddAsync(connection, tx, Created(group.Id, ContainerKinds.ProjectGroup, group.Name, "", group.CreateTime), cancellationToken);
            return group;
        }, cancellationToken);

    public async Task<ProjectGroup?> FindGroupAsync(string? id, string? name, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<GroupRow>(new CommandDefinition(
            id is not null ? GroupById : GroupByName, new { id, name }, cancellationToken: cancellationToken));
        return row?.ToProto();
    }

    /// <summary>Groups by name, then id; all of them or those <paramref name="projectId"/> belongs to.</summary>
    public async Task<(IReadOnlyList<ProjectGroup> Items, string NextPageToken)> ListGroupsAsync(Page page, string nameContains, string projectId,
        CancellationToken cancellationToken)
    {
        var rows = await QueryPageAsync<GroupRow>(GroupsQuery(page, nameContains, projectId), page, nameContains, new { projectId }, cancellationToken);
        return Paged(rows, page, r => r.ToProto(), r => (r.Name, r.Id));
    }

    internal string GroupsQuery(Page page, string nameContains, string projectId)
    {
        var from = projectId.Length > 0
            ? "project_group_members m CROSS JOIN project_groups g WHERE m.project_id = @projectId AND g.id = m.project_group_id"
            : Unscoped("project_groups", "g", nameContains);
        return $"SELECT {GroupColumns} FROM {from}{Filters("g", page, nameContains)} ORDER BY g.name, g.id";
    }

    public Task<ProjectGroup> RenameGroupAsync(string id, string name, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx) =>
        {
            var current = (await LockedAsync<GroupRow>(connection, tx, "project_groups", GroupById, id, cancellationToken))?.ToProto()
                ?? throw ContainerRules.NotFound(ContainerKinds.ProjectGroup, id);
            current.Name = name;
            current.UpdateTime = Now();
            await UpdateAsync(connection, tx, "UPDATE project_groups SET name = @Name, updated_at = @UpdatedAt WHERE id = @Id", GroupRow.From(current),
                () => ContainerRules.AlreadyExists(ContainerKinds.ProjectGroup, name), cancellationToken);
            return current;
        }, cancellationToken);

    public Task<ProjectGroup> DeleteGroupAsync(string id, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx) =>
        {
            var current = (await LockedAsync<GroupRow>(connection, tx, "project_groups", GroupById, id, cancellationToken))?.ToProto()
                ?? throw ContainerRules.NotFound(ContainerKinds.ProjectGroup, id);
            await connection.ExecuteAsync(new CommandDefinition("DELETE FROM project_groups WHERE id = @id", new { id }, tx, cancellationToken: cancellationToken));
            await outbox.AddAsync(connection, tx, Deleted(id, ContainerKinds.ProjectGroup, current.Name, ""), cancellationToken);
            return current;
        }, cancellationToken);

    // ---- memberships ----

    /// <summary>Adds a membership; the primary key refuses a second one, the foreign keys a group or project that is gone.</summary>
    public Task<Membership> AddMemberAsync(string groupId, string projectId, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx) =>
        {
            var (group, project) = await MembershipSidesAsync(connection, tx, groupId, projectId, cancellationToken);
            try
            {
                await connection.ExecuteAsync(new CommandDefinition(
                    "INSERT INTO project_group_members (project_group_id, project_id, created_at) VALUES (@groupId, @projectId, @now)",
                    new { groupId, projectId, now = Now().ToDateTimeOffset().ToUnixTimeMilliseconds() }, tx, cancellationToken: cancellationToken));
            }
            catch (DbException e) when (db.Dialect.IsUniqueViolation(e))
            {
                throw Errors.Create(Code.AlreadyExists, Reasons.ProjectAlreadyInGroup,
                    $"project '{ContainerRules.Shorten(project.Name)}' is already in project group '{ContainerRules.Shorten(group.Name)}'",
                    ("project_id", projectId), ("project_group_id", groupId));
            }
            catch (DbException e) when (db.Dialect.IsForeignKeyViolation(e))
            {
                // Only possible where reads do not block a concurrent delete (SQL Server read committed).
                throw ContainerRules.NotFound(ContainerKinds.ProjectGroup, groupId);
            }
            return new Membership { ProjectGroup = group, Project = project };
        }, cancellationToken);

    public Task<Membership> RemoveMemberAsync(string groupId, string projectId, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx) =>
        {
            var (group, project) = await MembershipSidesAsync(connection, tx, groupId, projectId, cancellationToken);
            var removed = await connection.ExecuteAsync(new CommandDefinition(
                "DELETE FROM project_group_members WHERE project_group_id = @groupId AND project_id = @projectId",
                new { groupId, projectId }, tx, cancellationToken: cancellationToken));
            if (removed == 0)
                throw Errors.Create(Code.NotFound, Reasons.ProjectNotInGroup,
                    $"project '{ContainerRules.Shorten(project.Name)}' is not in project group '{ContainerRules.Shorten(group.Name)}'",
                    ("project_id", projectId), ("project_group_id", groupId));
            return new Membership { ProjectGroup = group, Project = project };
        }, cancellationToken);

    static async Task<(ProjectGroup, Project)> MembershipSidesAsync(DbConnection connection, DbTransaction tx, string groupId, string projectId,
        CancellationToken cancellationToken)
    {
        var group = (await connection.QuerySingleOrDefaultAsync<GroupRow>(new CommandDefinition(GroupById, new { id = groupId }, tx, cancellationToken: cancellationToken)))?.ToProto()
            ?? throw ContainerRules.NotFound(ContainerKinds.ProjectGroup, groupId);
        var project = (await connection.QuerySingleOrDefaultAsync<ProjectRow>(new CommandDefinition(ProjectById, new { id = projectId }, tx, cancellationToken: cancellationToken)))?.ToProto()
            ?? throw ContainerRules.NotFound(ContainerKinds.Project, projectId);
        return (group, project);
    }

    // ---- any kind ----

    public async Task<Container?> FindContainerAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var kind = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition("""
            SELECT 'project' FROM projects WHERE id = @id
            UNION ALL SELECT 'branch' FROM branches WHERE id = @id
            UNION ALL SELECT 'project-group' FROM project_groups WHERE id = @id
            """, new { id }, cancellationToken: cancellationToken));
        return kind switch
        {
            ContainerKinds.Project => (await connection.QuerySingleOrDefaultAsync<ProjectRow>(new CommandDefinition(ProjectById, new { id }, cancellationToken: cancellationToken)))
                ?.ToProto() is { } p ? new Container { Project = p } : null,
            ContainerKinds.Branch => (await connection.QuerySingleOrDefaultAsync<BranchRow>(new CommandDefinition(BranchById, new { id }, cancellationToken: cancellationToken)))
                ?.ToProto() is { } b ? new Container { Branch = b } : null,
            ContainerKinds.ProjectGroup => (await connection.QuerySingleOrDefaultAsync<GroupRow>(new CommandDefinition(GroupById, new { id }, cancellationToken: cancellationToken)))
                ?.ToProto() is { } g ? new Container { ProjectGroup = g } : null,
            _ => null,
        };
    }

    // ---- plumbing ----

    internal Timestamp Now() => Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(time.GetUtcNow().ToUnixTimeMilliseconds()));

    /// <summary>
    /// The FROM and first WHERE term of a list over every row of <paramref name="table"/>. With a name filter that
    /// the trigram index can answer, start from the names that contain it (the kind's FTS5 table, see
    /// Migrations/sqlite/0002_name_search.sql) and sort those few; CROSS JOIN fixes that order, or SQLite may prefer to
    /// walk the whole name index in page order. <see cref="Filters"/> still applies the exact LIKE to the rows found:
    /// the index folds case beyond ASCII, so it finds a superset. Otherwise walk the name index in page order, which
    /// stops once a page is full — for a filter of one or two characters that reads names until the page fills
    /// (all of them when few match): trigrams cannot find shorter strings.
    /// </summary>
    string Unscoped(string table, string alias, string nameContains) => UsesNameSearch(nameContains)
        ? $"{table}_name_search n CROSS JOIN name_search_docs d CROSS JOIN {table} {alias} WHERE n.name MATCH @match AND d.doc = n.rowid AND {alias}.id = d.id"
        : $"{table} {alias} WHERE 1 = 1";

    /// <summary>Whether the trigram index answers <paramref name="nameContains"/>: SQLite only, three characters (code points) or more.</summary>
    bool UsesNameSearch(string nameContains) => db.Dialect.Name == "sqlite" && nameContains.EnumerateRunes().Take(3).Count() == 3;

    /// <summary>The WHERE additions of a page: the keyset position and the name filter.</summary>
    internal string Filters(string alias, Page page, string nameContains)
    {
        var sql = "";
        if (page.AfterName is not null)
            sql += $" AND {alias}.name >= @afterName AND ({alias}.name > @afterName OR {alias}.id > @afterId)";
        if (!SqlText.Storable(nameContains))
            sql += " AND 1 = 0";
        else if (nameContains.Length > 0)
            sql += db.Dialect.Name == "sqlserver"
                ? $@" AND {alias}.name COLLATE Latin1_General_100_CI_AS LIKE @pattern ESCAPE '\'"
                : $@" AND {alias}.name {db.Dialect.LikeOperator} @pattern ESCAPE '\'";
        return sql;
    }

    internal async Task<List<TRow>> QueryPageAsync<TRow>(string sql, Page page, string nameContains, object filter, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<TRow>(new CommandDefinition($"{sql} {db.Dialect.Page}", PageParameters(page, nameContains, filter),
            cancellationToken: cancellationToken))).AsList();
    }

    /// <summary>The parameters of a page query: the caller's filter, the keyset position, the name pattern, one row more than the page.</summary>
    internal static DynamicParameters PageParameters(Page page, string nameContains, object filter)
    {
        var parameters = new DynamicParameters(filter);
        parameters.Add("afterName", page.AfterName);
        parameters.Add("afterId", page.AfterId);
        parameters.Add("pattern", "%" + SqlText.EscapeLike(nameContains) + "%");
        parameters.Add("match", FtsPhrase(nameContains.Replace("\0", "", StringComparison.Ordinal)));
        parameters.Add("limit", page.Limit + 1);
        parameters.Add("offset", 0);
        return parameters;
    }

    internal static (IReadOnlyList<T> Items, string NextPageToken) Paged<TRow, T>(List<TRow> rows, Page page, Func<TRow, T> map, Func<TRow, (string Name, string Id)> key)
    {
        var more = rows.Count > page.Limit;
        if (more)
            rows.RemoveAt(rows.Count - 1);
        var last = rows.Count > 0 ? key(rows[^1]) : ("", "");
        return (rows.Select(map).ToList(), Page.Next(more, last.Item1, last.Item2));
    }

    internal async Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<T>> write, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var result = await write(connection, tx);
        await tx.CommitAsync(cancellationToken);
        outbox.Wake(db);
        return result;
    }

    async Task InsertAsync(DbConnection connection, DbTransaction tx, string sql, object row, Func<RpcException> conflict, CancellationToken cancellationToken)
    {
        // Every row a create adds passes here: refused below the free-space reserve (see ServiceDatabase.RequireRoom).
        db.RequireRoom();
        try
        {
            await connection.ExecuteAsync(new CommandDefinition(sql, row, tx, cancellationToken: cancellationToken));
        }
        catch (DbException e) when (db.Dialect.IsUniqueViolation(e))
        {
            throw conflict();
        }
    }

    Task UpdateAsync(DbConnection connection, DbTransaction tx, string sql, object row, Func<RpcException> conflict, CancellationToken cancellationToken) =>
        InsertAsync(connection, tx, sql, row, conflict, cancellationToken);

    /// <summary>
    /// The row <paramref name="id"/> of <paramref name="table"/>, locked for the rest of the write transaction; null
    /// when there is none. A rename or remove reads the row it changes through this, so that two of them racing take
    /// turns on the newest row: at READ COMMITTED (PostgreSQL, SQL Server) a plain SELECT does not wait for a writer
    /// that holds the row, so a remove could return (and announce) the name a rename was committing, and the rename
    /// would answer OK for a row its UPDATE no longer found. The lock is a no-op UPDATE, checked by rows affected:
    /// portable, it waits for a writer holding the row and then sees the newest committed version (or none). SQLite's
    /// BEGIN IMMEDIATE already serializes every writer.
    /// </summary>
    internal static async Task<TRow?> LockedAsync<TRow>(DbConnection connection, DbTransaction tx, string table, string byId, string id,
        CancellationToken cancellationToken) where TRow : class
    {
        var locked = await connection.ExecuteAsync(new CommandDefinition($"UPDATE {table} SET updated_at = updated_at WHERE id = @id", new { id }, tx,
            cancellationToken: cancellationToken));
        return locked == 0 ? null
            : await connection.QuerySingleOrDefaultAsync<TRow>(new CommandDefinition(byId, new { id }, tx, cancellationToken: cancellationToken));
    }

    /// <summary>
    /// An FTS5 query of one phrase, the filter taken literally: inside double quotes only a double quote is special
    /// (doubled). With the trigram tokenizer a phrase matches the names that contain it.
    /// </summary>
    static string FtsPhrase(string value) => "\"" + value.Replace("\"", "\"\"") + "\"";


    static ContainerCreated Created(string id, string kind, string name, string parentId, Timestamp time) =>
        new() { Id = id, Kind = kind, Name = name, ParentId = parentId, Time = time };

    ContainerDeleted Deleted(string id, string kind, string name, string parentId) =>
        new() { Id = id, Kind = kind, Name = name, ParentId = parentId, Time = Now() };

    static Timestamp ToTime(long milliseconds) => Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(milliseconds));
    static long ToMilliseconds(Timestamp? time) => time?.ToDateTimeOffset().ToUnixTimeMilliseconds() ?? 0;

    sealed class ProjectRow
    {
        public string Id { get; init; } = "";
        public string Name { get; init; } = "";
        public long ReviewWithComment { get; init; }
        public long CreatedAt { get; init; }
        public long UpdatedAt { get; init; }

        public Project ToProto() => new()
        {
            Id = Id, Name = Name, ReviewWithComment = ReviewWithComment != 0, CreateTime = ToTime(CreatedAt), UpdateTime = ToTime(UpdatedAt),
        };

        public static ProjectRow From(Project p) => new()
        {
            Id = p.Id, Name = p.Name, ReviewWithComment = p.ReviewWithComment ? 1 : 0, CreatedAt = ToMilliseconds(p.CreateTime), UpdatedAt = ToMilliseconds(p.UpdateTime),
        };
    }

    sealed class BranchRow
    {
        public string Id { get; init; } = "";
        public string ProjectId { get; init; } = "";
        public string Name { get; init; } = "";
        public long CreatedAt { get; init; }
        public long UpdatedAt { get; init; }

        public Branch ToProto() => new() { Id = Id, ProjectId = ProjectId, Name = Name, CreateTime = ToTime(CreatedAt), UpdateTime = ToTime(UpdatedAt) };

        public static BranchRow From(Branch b) => new()
        {
            Id = b.Id, ProjectId = b.ProjectId, Name = b.Name, CreatedAt = ToMilliseconds(b.CreateTime), UpdatedAt = ToMilliseconds(b.UpdateTime),
        };
    }

    sealed class GroupRow
    {
        public string Id { get; init; } = "";
        public string Name { get; init; } = "";
        public long CreatedAt { get; init; }
        public long UpdatedAt { get; init; }

        public ProjectGroup ToProto() => new() { Id = Id, Name = Name, CreateTime = ToTime(CreatedAt), UpdateTime = ToTime(UpdatedAt) };

        public static GroupRow From(ProjectGroup g) => new()
        {
            Id = g.Id, Name = g.Name, CreatedAt = ToMilliseconds(g.CreateTime), UpdatedAt = ToMilliseconds(g.UpdateTime),
        };
    }
}
