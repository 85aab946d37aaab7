using BuildGrid.Containers.Domain;
using BuildGrid.Containers.V1;
using BuildGrid.Core.Events;
using BuildGrid.Core.Storage;
using BuildGrid.Events.V1;
using Dapper;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace BuildGrid.Containers.Storage;

/// <summary>All SQL of snapshots: recorded states of a branch. Recording one publishes BranchSnapshotRecorded in the same transaction.</summary>
public sealed class SnapshotStore([FromKeyedServices(ContainersExtensions.AppId)] ServiceDatabase db, ContainerStore containers, Outbox outbox, TimeProvider time)
{
    const string Columns = """
        s.id AS Id, s.branch_id AS BranchId, s.name AS Name, s.created_at AS CreatedAt, s.updated_at AS UpdatedAt,
        s.build_run_id AS BuildRunId, s.commit_sha AS CommitSha, s.image_digest AS ImageDigest, s.metadata AS Metadata
        """;
    const string ById = $"SELECT {Columns} FROM snapshots s WHERE s.id = @id";

    static readonly JsonFormatter MetadataFormatter = new(JsonFormatter.Settings.Default);

    public Task<Snapshot> InsertAsync(Snapshot snapshot, CancellationToken cancellationToken) =>
        containers.WriteAsync(async (connection, tx) =>
        {
            // Reading the branch in the write transaction both checks it and names its project for the event.
            var projectId = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "SELECT project_id FROM branches WHERE id = @id", new { id = snapshot.BranchId }, tx, cancellationToken: cancellationToken))
                ?? throw ContainerRules.NotFound(ContainerKinds.Branch, snapshot.BranchId);
            try
            {
                await connection.ExecuteAsync(new CommandDefinition("""
                    INSERT INTO snapshots (id, branch_id, name, created_at, updated_at, build_run_id, commit_sha, image_digest, metadata)
                    VALUES (@Id, @BranchId, @Name, @CreatedAt, @UpdatedAt, @BuildRunId, @CommitSha, @ImageDigest, @Metadata)
                    """, SnapshotRow.From(snapshot), tx, cancellationToken: cancellationToken));
            }
            catch (System.Data.Common.DbException e) when (db.Dialect.IsForeignKeyViolation(e))
            {
                throw ContainerRules.NotFound(ContainerKinds.Branch, snapshot.BranchId);
            }
            await outbox.AddAsync(connection, tx, new BranchSnapshotRecorded
            {
                SnapshotId = snapshot.Id, BranchId = snapshot.BranchId, ProjectId = projectId, Name = snapshot.Name, Time = snapshot.CreateTime,
                BuildRunId = snapshot.BuildRunId, Commit = snapshot.Commit, ImageDigest = snapshot.ImageDigest,
            }, cancellationToken);
            return snapshot;
        }, cancellationToken);

    /// <summary>
    /// Records a snapshot for a finished build on the branch named like the build's branch, under the project named like
    /// the build's project — once per event (the inbox), and not at all when no such branch exists.
    /// </summary>
    public Task<Snapshot?> RecordBuildAsync(CloudEvent cloudEvent, BuildFinished build, CancellationToken cancellationToken) =>
        containers.WriteAsync(async (connection, tx) =>
        {
            if (!await Inbox.TryRecordAsync(connection, tx, cloudEvent, cancellationToken))
                return null;
            var branch = await connection.QuerySingleOrDefaultAsync<(string Id, string ProjectId)?>(new CommandDefinition("""
                SELECT b.id, b.project_id FROM branches b JOIN projects p ON p.id = b.project_id WHERE p.name = @project AND b.name = @branch
                """, new { project = build.Project, branch = build.Branch }, tx, cancellationToken: cancellationToken));
            if (branch is not { } target)
                return null;
            var now = Timestamp.FromDateTimeOffset(time.GetUtcNow());
            var snapshot = new Snapshot
            {
                Id = Guid.NewGuid().ToString(), BranchId = target.Id, CreateTime = now, UpdateTime = now, BuildRunId = build.RunId,
                Commit = build.Commit, ImageDigest = build.ImageDigest,
                Name = build.Tag.Length > 0 ? build.Tag : build.Commit.Length >= 12 ? build.Commit[..12] : build.RunId,
                Metadata = new Struct
                {
                    Fields =
                    {
                        ["image"] = Value.ForString(build.Image), ["service"] = Value.ForString(build.Service),
                        ["definition"] = Value.ForString(build.Definition), ["attempt"] = Value.ForNumber(build.Attempt),
                    },
                },
            };
            await connection.ExecuteAsync(new CommandDefinition("""
                INSERT INTO snapshots (id, branch_id, name, created_at, updated_at, build_run_id, commit_sha, image_digest, metadata)
                VALUES (@Id, @BranchId, @Name, @CreatedAt, @UpdatedAt, @BuildRunId, @CommitSha, @ImageDigest, @Metadata)
                """, SnapshotRow.From(snapshot), tx, cancellationToken: cancellationToken));
            await outbox.AddAsync(connection, tx, new BranchSnapshotRecorded
            {
                SnapshotId = snapshot.Id, BranchId = snapshot.BranchId, ProjectId = target.ProjectId, Name = snapshot.Name, Time = now,
                BuildRunId = snapshot.BuildRunId, Commit = snapshot.Commit, ImageDigest = snapshot.ImageDigest,
            }, cancellationToken);
            return (Snapshot?)snapshot;
        }, cancellationToken);

    public async Task<Snapshot?> FindAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return (await connection.QuerySingleOrDefaultAsync<SnapshotRow>(new CommandDefinition(ById, new { id }, cancellationToken: cancellationToken)))?.ToProto();
    }

    public async Task<(IReadOnlyList<Snapshot> Items, string NextPageToken)> ListAsync(Page page, string branchId, CancellationToken cancellationToken)
    {
        var rows = await containers.QueryPageAsync<SnapshotRow>(Query(page), page, "", new { branchId }, cancellationToken);
        return ContainerStore.Paged(rows, page, r => r.ToProto(), r => (r.Name, r.Id));
    }

    internal string Query(Page page) => $"SELECT {Columns} FROM snapshots s WHERE s.branch_id = @branchId{containers.Filters("s", page, "")} ORDER BY s.name, s.id";

    public Task<Snapshot> RenameAsync(string id, string name, CancellationToken cancellationToken) =>
        containers.WriteAsync(async (connection, tx) =>
        {
            var current = (await ContainerStore.LockedAsync<SnapshotRow>(connection, tx, "snapshots", ById, id, cancellationToken))?.ToProto()
                ?? throw ContainerRules.NotFound(ContainerKinds.Snapshot, id);
            current.Name = name;
            current.UpdateTime = containers.Now();
            await connection.ExecuteAsync(new CommandDefinition("UPDATE snapshots SET name = @Name, updated_at = @UpdatedAt WHERE id = @Id",
                SnapshotRow.From(current), tx, cancellationToken: cancellationToken));
            return current;
        }, cancellationToken);

    sealed class SnapshotRow
    {
        public string Id { get; init; } = "";
        public string BranchId { get; init; } = "";
        public string Name { get; init; } = "";
        public long CreatedAt { get; init; }
        public long UpdatedAt { get; init; }
        public string BuildRunId { get; init; } = "";
        public string CommitSha { get; init; } = "";
        public string ImageDigest { get; init; } = "";
        public string Metadata { get; init; } = "{}";

        public Snapshot ToProto() => new()
        {
            Id = Id, BranchId = BranchId, Name = Name,
            CreateTime = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt)),
            UpdateTime = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(UpdatedAt)),
            BuildRunId = BuildRunId, Commit = CommitSha, ImageDigest = ImageDigest, Metadata = Struct.Parser.ParseJson(Metadata),
        };

        public static SnapshotRow From(Snapshot s) => new()
        {
            Id = s.Id, BranchId = s.BranchId, Name = s.Name,
            CreatedAt = s.CreateTime.ToDateTimeOffset().ToUnixTimeMilliseconds(),
            UpdatedAt = s.UpdateTime.ToDateTimeOffset().ToUnixTimeMilliseconds(),
            BuildRunId = s.BuildRunId, CommitSha = s.Commit, ImageDigest = s.ImageDigest,
            Metadata = MetadataFormatter.Format(s.Metadata ?? new Struct()),
        };
    }
}
