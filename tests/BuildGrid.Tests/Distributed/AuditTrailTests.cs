using BuildGrid.Tests.Infrastructure;
using Grpc.Net.Client;
using IdentityClient = BuildGrid.Identity.V1.Identity.IdentityClient;
using ProjectsClient = BuildGrid.Projects.V1.Projects.ProjectsClient;

namespace BuildGrid.Tests.Distributed;

/// <summary>
/// The audit trail in the multi-process layout without a sidecar (tye.yaml): Projects and Identity as their own OS
/// processes on one real redis-server. A write's audit record travels on the Redis bus to Identity — even when Identity
/// starts only after the write, so that no record is marked sent while no subscriber took it.
/// </summary>
public sealed class AuditTrailTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_write_in_projects_reaches_the_audit_log_of_an_identity_process_that_starts_later()
    {
        await using var redis = await RedisServer.StartAsync();
        var root = TestDirectories.Create("audit-tye");
        try
        {
            Dictionary<string, string> Env(string dataDir) => new()
            {
                ["BUILDGRID_DATA_DIR"] = Path.Combine(root, dataDir),
                ["BUILDGRID_REDIS"] = redis.ConnectionString,
            };
            await using var projects = await ServiceProcess.StartAsync("BuildGrid.Projects", Env("projects"));
            using var projectsChannel = GrpcChannel.ForAddress(projects.GrpcUrl);
            var name = "audited" + Guid.NewGuid().ToString("N")[..8];
            await new ProjectsClient(projectsChannel).CreateProjectAsync(
                new BuildGrid.Projects.V1.CreateProjectRequest { Name = name, Cluster = "default_cluster" }, cancellationToken: Ct);
            // Give the outbox relay time to publish while nobody has subscribed yet.
            await Task.Delay(3000, Ct);

            await using var identity = await ServiceProcess.StartAsync("BuildGrid.Identity", Env("identity"));
            using var identityChannel = GrpcChannel.ForAddress(identity.GrpcUrl);
            var audit = new IdentityClient(identityChannel);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            BuildGrid.Identity.V1.AuditEntry? entry = null;
            while (entry is null && DateTime.UtcNow < deadline)
            {
                var listed = await audit.ListAuditEntriesAsync(new BuildGrid.Identity.V1.ListAuditEntriesRequest { PageSize = 200 }, cancellationToken: Ct);
                entry = listed.Entries.FirstOrDefault(e => e.Resource == name);
                if (entry is null)
                    await Task.Delay(200, Ct);
            }
            Assert.True(entry is not null, "the audit record never reached Identity:\n" + identity.Output + "\n" + projects.Output);
            Assert.Equal("projects", entry.Service);
            Assert.Contains("CreateProject", entry.Action);
        }
        finally
        {
            TestDirectories.TryDelete(root);
        }
    }
}
