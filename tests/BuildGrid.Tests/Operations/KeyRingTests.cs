using System.Globalization;
using System.Text;
using BuildGrid.Builds.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;
using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection;

namespace BuildGrid.Tests.Operations;

/// <summary>
/// The Data Protection key ring that encrypts stored credentials is one per installation: in the database every Builds
/// replica shares (not on a pod's own disk), encrypted under a key derived from BUILDGRID_SERVICE_KEY, and still there
/// after a restart. Two real Builds processes on one Redis queue: a run's secret stored (encrypted) by one is decrypted
/// and used by the other, and by the first again after it restarts.
/// </summary>
public sealed class KeyRingTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    const string Password = "Key-ring-admin-1";
    static Metadata Admin => new() { { "authorization", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{Password}")) } };

    [Fact]
    public async Task A_secret_stored_by_one_builds_process_is_read_by_another_and_after_a_restart()
    {
        await using var redis = await RedisServer.StartAsync();
        var dataDir = TestDirectories.Create("key-ring");
        try
        {
            Dictionary<string, string> Environment(int workers) => BuildsEnvironment(dataDir, redis, workers);
            RunSpec Writing(string secret) => WritingSecret(secret);

            // The first process only accepts runs (no workers): the second one, a replica, runs them.
            await using var first = await ServiceProcess.StartAsync("BuildGrid.Builds", Environment(workers: 0));
            await using var second = await ServiceProcess.StartAsync("BuildGrid.Builds", Environment(workers: 1));
            string runId;
            using (var channel = GrpcChannel.ForAddress(first.GrpcUrl))
                runId = (await new BuildRuns.BuildRunsClient(channel).StartRunAsync(
                    new StartRunRequest { Spec = Writing("s3cret-from-first") }, Admin, cancellationToken: Ct)).Id;
            using var secondChannel = GrpcChannel.ForAddress(second.GrpcUrl);
            var secondRuns = new BuildRuns.BuildRunsClient(secondChannel);
            var done = await Eventually.Async(() => secondRuns.GetRun(new GetRunRequest { Id = runId }, Admin, cancellationToken: Ct).State,
                s => s is RunState.Succeeded or RunState.Failed, 60_000);
            Assert.Equal(RunState.Succeeded, done);
            Assert.Equal(Sha("s3cret-from-first"), (await secondRuns.GetRunAsync(new GetRunRequest { Id = runId }, Admin, cancellationToken: Ct)).Outputs["PASS_SHA"]);

            // With the worker gone, the first stores another; after a restart of the installation, that secret is read again.
            await second.KillAsync();
            using (var channel = GrpcChannel.ForAddress(first.GrpcUrl))
                runId = (await new BuildRuns.BuildRunsClient(channel).StartRunAsync(
                    new StartRunRequest { Spec = Writing("s3cret-before-restart") }, Admin, cancellationToken: Ct)).Id;
            await first.KillAsync();
            await using var restarted = await ServiceProcess.StartAsync("BuildGrid.Builds", Environment(workers: 1));
            using var restartedChannel = GrpcChannel.ForAddress(restarted.GrpcUrl);
            var restartedRuns = new BuildRuns.BuildRunsClient(restartedChannel);
            done = await Eventually.Async(() => restartedRuns.GetRun(new GetRunRequest { Id = runId }, Admin, cancellationToken: Ct).State,
                s => s is RunState.Succeeded or RunState.Failed, 60_000);
            Assert.Equal(RunState.Succeeded, done);
            Assert.Equal(Sha("s3cret-before-restart"), (await restartedRuns.GetRunAsync(new GetRunRequest { Id = runId }, Admin, cancellationToken: Ct)).Outputs["PASS_SHA"]);

            // The ring is in the shared database, each key encrypted (no master key in clear), and nothing on the disk.
            Assert.False(Directory.Exists(Path.Combine(dataDir, "keys")) && Directory.EnumerateFiles(Path.Combine(dataDir, "keys")).Any(),
                "the key ring must not live in the data directory");
            Assert.NotEmpty(await StoredKeysAsync(dataDir));
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }
    [Fact]
    public async Task The_key_ring_an_earlier_version_kept_in_the_data_directory_is_carried_into_the_database()
    {
        await using var redis = await RedisServer.StartAsync();
        var dataDir = TestDirectories.Create("key-ring-legacy");
        try
        {
            // The ring as BuildGrid kept it before: key files in <data>/keys (Data Protection's file system repository).
            var legacy = DataProtectionProvider.Create(new DirectoryInfo(Path.Combine(dataDir, "keys")), b => b.SetApplicationName("BuildGrid"));
            Assert.NotEmpty(legacy.CreateProtector("BuildGrid.Builds.RunSecrets").Protect("stored before the upgrade"));
            var legacyKey = XElement.Load(Assert.Single(Directory.GetFiles(Path.Combine(dataDir, "keys"), "key-*.xml"))).Attribute("id")!.Value;

            await using var builds = await ServiceProcess.StartAsync("BuildGrid.Builds", BuildsEnvironment(dataDir, redis, workers: 1));
            using var channel = GrpcChannel.ForAddress(builds.GrpcUrl);
            var runs = new BuildRuns.BuildRunsClient(channel);
            var run = await runs.StartRunAsync(new StartRunRequest { Spec = WritingSecret("s3cret-after-upgrade") }, Admin, cancellationToken: Ct);
            var done = await Eventually.Async(() => runs.GetRun(new GetRunRequest { Id = run.Id }, Admin, cancellationToken: Ct).State,
                s => s is RunState.Succeeded or RunState.Failed, 60_000);
            Assert.Equal(RunState.Succeeded, done);
            Assert.Equal(Sha("s3cret-after-upgrade"), (await runs.GetRunAsync(new GetRunRequest { Id = run.Id }, Admin, cancellationToken: Ct)).Outputs["PASS_SHA"]);

            // The same key (no new one), now in the database and encrypted: what it protected before stays readable.
            var stored = await StoredKeysAsync(dataDir);
            Assert.Equal([legacyKey], stored.Select(xml => XElement.Parse(xml).Attribute("id")!.Value));
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }

    static Dictionary<string, string> BuildsEnvironment(string dataDir, RedisServer redis, int workers) => new()
    {
        ["BUILDGRID_DATA_DIR"] = dataDir,
        ["BUILDGRID_REDIS"] = redis.ConnectionString,
        ["BUILDGRID_SERVICE_KEY"] = "key-ring-test-service-key",
        ["BUILDGRID_ADMIN_PASSWORD"] = Password,
        ["Builds__Workers"] = workers.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// A run that reads its stored secret: the sandboxed script writes nowhere but its workspace, so it reports the
    /// secret's SHA-256 as an output (the secret itself would be masked).
    /// </summary>
    static RunSpec WritingSecret(string secret) => new()
    {
        Script = "echo \"PASS_SHA=$(printf %s \"$PASS\" | sha256sum | cut -c1-64)\" >> \"$BUILDGRID_OUTPUTS\"",
        Secrets = { ["PASS"] = secret },
        Outputs = { "PASS_SHA" },
        TimeoutSeconds = 60,
    };

    static string Sha(string text) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));

    /// <summary>The key ring as stored in builds.db; fails unless every key's secret is encrypted (no master key in clear).</summary>
    static async Task<List<string>> StoredKeysAsync(string dataDir)
    {
        await using var db = await PostgresServer.OpenServiceDatabaseAsync(dataDir, "builds");
        await using var query = db.CreateCommand();
        query.CommandText = "SELECT xml FROM data_protection_keys";
        var keys = new List<string>();
        await using (var reader = await query.ExecuteReaderAsync(Ct))
            while (await reader.ReadAsync(Ct))
                keys.Add(reader.GetString(0));
        foreach (var key in keys)
            Assert.True(key.Contains("<aesGcm", StringComparison.Ordinal) && !key.Contains("<masterKey", StringComparison.Ordinal), $"a stored key is not encrypted: {key}");
        return keys;
    }
}
