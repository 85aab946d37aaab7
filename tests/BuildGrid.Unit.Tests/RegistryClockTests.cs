using BuildGrid.Core.Events;
using BuildGrid.Core.Hosting;
using BuildGrid.Core.Storage;
using BuildGrid.Registry.Domain;
using BuildGrid.Registry.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace BuildGrid.Unit.Tests;

/// <summary>
/// The registry's timed rules on a fake clock, against a SQLite file of its own: the collector's lease, the grace period
/// of an unreferenced blob, and the expiry of an upload session. Each is decided in SQL from the time the store reads.
/// </summary>
public sealed class RegistryClockTests : IDisposable
{
    readonly string dataDir = Directory.CreateTempSubdirectory("buildgrid-unit-").FullName;
    readonly FakeTimeProvider clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    readonly ServiceDatabase db;

    public RegistryClockTests()
    {
        var settings = new BuildGridSettings { RestUrl = new Uri("http://127.0.0.1:1"), GrpcUrl = new Uri("http://127.0.0.1:2"), DataDir = dataDir,
            SqlProvider = "sqlite" };
        db = new ServiceDatabase("registry", typeof(RegistryStore).Assembly, settings,
            new DiskSpace(dataDir, 0, keepsReserve: false, NullLogger<DiskSpace>.Instance), clock, NullLoggerFactory.Instance);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(dataDir, recursive: true);
    }

    static Digest NewDigest() => Digest.Parse("sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));

    [Fact]
    public async Task The_collector_lease_is_the_holders_until_it_lapses()
    {
        var gc = new GcStore(db, clock);
        var ct = TestContext.Current.CancellationToken;
        Assert.True(await gc.TryLeaseAsync(GcStore.Lease, "a", TimeSpan.FromMinutes(1), ct));
        Assert.False(await gc.TryLeaseAsync(GcStore.Lease, "b", TimeSpan.FromMinutes(1), ct));

        clock.Advance(TimeSpan.FromSeconds(30));
        Assert.True(await gc.TryLeaseAsync(GcStore.Lease, "a", TimeSpan.FromMinutes(1), ct));   // renewed until 01:30
        clock.Advance(TimeSpan.FromSeconds(59));
        Assert.False(await gc.TryLeaseAsync(GcStore.Lease, "b", TimeSpan.FromMinutes(1), ct));
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.True(await gc.TryLeaseAsync(GcStore.Lease, "b", TimeSpan.FromMinutes(1), ct));
        Assert.False(await gc.TryLeaseAsync(GcStore.Lease, "a", TimeSpan.FromMinutes(1), ct));
    }

    [Fact]
    public async Task An_unreferenced_blob_is_swept_only_after_its_grace_period()
    {
        var registry = new RegistryStore(db, new Outbox(new OutboxSignal()), clock);
        var uploads = new UploadStore(db, clock);
        var gc = new GcStore(db, clock);
        var ct = TestContext.Current.CancellationToken;
        var grace = TimeSpan.FromHours(1);
        var digest = NewDigest();
        await uploads.CreateUploadAsync("u1", "team/app", ct);
        Assert.True(await uploads.ClaimUploadAsync("u1", "team/app", digest, TimeSpan.FromMinutes(10), ct));
        await registry.LinkBlobAsync("team/app", digest, 42, "unit", "u1", ct);

        clock.Advance(grace - TimeSpan.FromSeconds(1));
        Assert.DoesNotContain((digest.ToString(), 42L), await gc.SweepCandidatesAsync(clock.GetUtcNow() - grace, ct));
        Assert.False(await gc.DeleteBlobIfUnreferencedAsync(digest, clock.GetUtcNow() - grace, clock.GetUtcNow(), "holder", ct));

        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Contains((digest.ToString(), 42L), await gc.SweepCandidatesAsync(clock.GetUtcNow() - grace, ct));
        Assert.True(await gc.DeleteBlobIfUnreferencedAsync(digest, clock.GetUtcNow() - grace, clock.GetUtcNow(), "holder", ct));
        Assert.False(await gc.BlobRowExistsAsync(digest, ct));
    }

    [Fact]
    public async Task An_upload_session_expires_when_untouched_for_its_expiry()
    {
        var uploads = new UploadStore(db, clock);
        var ct = TestContext.Current.CancellationToken;
        var expiry = TimeSpan.FromMinutes(10);
        await uploads.CreateUploadAsync("u2", "team/app", ct);

        clock.Advance(expiry - TimeSpan.FromSeconds(1));
        Assert.True(await uploads.TouchUploadAsync("u2", "team/app", expiry, ct));
        Assert.Empty(await uploads.ExpiredUploadsAsync(clock.GetUtcNow() - expiry, ct));

        clock.Advance(expiry + TimeSpan.FromSeconds(1));
        Assert.Contains("u2", await uploads.ExpiredUploadsAsync(clock.GetUtcNow() - expiry, ct));
        Assert.False(await uploads.TouchUploadAsync("u2", "team/app", expiry, ct));
    }
}
