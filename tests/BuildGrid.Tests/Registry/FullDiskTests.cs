using System.Net;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Registry;

/// <summary>
/// /v2/ on a full disk: the data directory is a real 64 MiB tmpfs (CI runs as root, so mount works). A
/// write that does not fit answers 507 and keeps nothing of itself; reading and cancelling an upload still work; the
/// Registry:MinFreeBytes reserve refuses an upload of declared size before a byte is written.
/// </summary>
public sealed class FullDiskTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Writes_that_do_not_fit_answer_507_and_leave_nothing_and_uploads_can_still_be_read_and_cancelled()
    {
        Assert.True(OperatingSystem.IsLinux() && Environment.UserName == "root", "mounting a tmpfs needs root: tests/run runs as root in CI");
        var dataDir = TestDirectories.Create("registry-full");
        await Tools.RunOkAsync("mount", dataDir, "-t", "tmpfs", "-o", "size=64m", "tmpfs", dataDir);
        var reserve = 8L << 20;
        try
        {
            var (app, rest, _) = await StandaloneFixture.StartAsync(dataDir, null, $"--Registry:MinFreeBytes={reserve}");
            try
            {
                using var http = new HttpClient { BaseAddress = rest, Timeout = TimeSpan.FromMinutes(2) };
                var v2 = new V2Client(http);
                var uploads = Path.Combine(dataDir, "registry", "uploads");
                long Free() => new DriveInfo(dataDir).AvailableFreeSpace;
                var freeBefore = Free();
                Assert.InRange(freeBefore, reserve + (16L << 20), 64L << 20);
                var tooMuch = new byte[freeBefore + (4L << 20)];

                // A declared length that would pass the reserve: 507 before a byte is stored.
                using (var session = await v2.SendAsync(HttpMethod.Post, "/v2/team/full/blobs/uploads/"))
                {
                    Assert.Equal(HttpStatusCode.Accepted, session.StatusCode);
                    var location = V2Client.Header(session, "Location");
                    // Expect: 100-continue, as docker and skopeo send large bodies: the refusal comes before the body is sent.
                    using (var refused = await v2.SendAsync(HttpMethod.Patch, location, tooMuch, configure: r => r.Headers.ExpectContinue = true))
                    {
                        Assert.Equal(HttpStatusCode.InsufficientStorage, refused.StatusCode);
                        Assert.Equal("UNKNOWN", await V2Client.ErrorCodeAsync(refused));
                    }
                    Assert.All(Directory.EnumerateFiles(uploads), f => Assert.Equal(0, new FileInfo(f).Length));

                    // No declared length (chunked): the bytes pass the reserve check and meet ENOSPC. 507, and what the
                    // chunk wrote is gone again: the session is where it was.
                    using (var full = await v2.SendAsync(HttpMethod.Patch, location,
                               configure: r => { r.Content = new ByteArrayContent(tooMuch); r.Headers.TransferEncodingChunked = true; r.Headers.ExpectContinue = true; }))
                    {
                        Assert.Equal(HttpStatusCode.InsufficientStorage, full.StatusCode);
                        Assert.Equal("UNKNOWN", await V2Client.ErrorCodeAsync(full));
                        Assert.Contains("insufficient storage", await full.Content.ReadAsStringAsync(Ct));
                    }
                    Assert.All(Directory.EnumerateFiles(uploads), f => Assert.Equal(0, new FileInfo(f).Length));
                    Assert.True(Free() > freeBefore - (2L << 20), $"the failed chunk's bytes stayed on disk: {Free()} free, {freeBefore} before");
                    using (var status = await v2.SendAsync(HttpMethod.Get, location))
                    {
                        Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
                        Assert.Equal("0-0", V2Client.Header(status, "Range"));
                    }
                    using (var cancel = await v2.SendAsync(HttpMethod.Delete, location))
                        Assert.Equal(HttpStatusCode.NoContent, cancel.StatusCode);
                    using (var gone = await v2.SendAsync(HttpMethod.Get, location))
                        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
                }

                // A monolithic push that does not fit: 507, no upload file left behind.
                var blob = new TestBlob(tooMuch, "application/octet-stream");
                using (var mono = await v2.SendAsync(HttpMethod.Post, $"/v2/team/full/blobs/uploads/?digest={blob.Digest}",
                           configure: r => { r.Content = new ByteArrayContent(tooMuch); r.Headers.TransferEncodingChunked = true; r.Headers.ExpectContinue = true; }))
                    Assert.Equal(HttpStatusCode.InsufficientStorage, mono.StatusCode);
                Assert.Empty(Directory.EnumerateFiles(uploads));

                // What fits still goes in.
                await v2.PushBlobAsync("team/full", new TestBlob(new byte[1 << 20], "application/octet-stream"));
            }
            finally
            {
                await app.StopAsync(Ct);
                await app.DisposeAsync();
            }
        }
        finally
        {
            await Tools.RunAsync("umount", "/", "-l", dataDir);
            TestDirectories.TryDelete(dataDir);
        }
    }
}
