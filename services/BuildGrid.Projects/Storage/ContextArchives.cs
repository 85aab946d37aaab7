using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Hosting;

namespace BuildGrid.Projects.Storage;

/// <summary>
/// Uploaded build contexts, content-addressed under <c>{data}/projects/contexts/&lt;sha256&gt;</c>: each archive is
/// unpacked once — refusing every entry that would land outside the context — and committed into a git repository
/// there, which builds clone into their workspace like any other repository (so the worker needs no new step). The same
/// bytes uploaded again (by any project) reuse the repository. The worker reads the path, so in a distributed
/// installation the Projects data directory must be visible to workers at the same path, or use a git context.
/// </summary>
public sealed class ContextArchives(BuildGridSettings settings) : IDisposable
{
    /// <summary>The largest archive (the REST gateway's default body limit, well under gRPC's 16 MiB message limit).</summary>
    public const int MaxArchiveBytes = 4 * 1024 * 1024;
    /// <summary>Bounds on what an archive unpacks to (a small archive can expand enormously).</summary>
    public const long MaxUnpackedBytes = 256L * 1024 * 1024;
    public const int MaxEntries = 20_000;

    readonly string root = Path.Combine(settings.DataDir, "projects", "contexts");
    readonly SemaphoreSlim gate = new(1, 1);

    public void Dispose() => gate.Dispose();

    public string CheckoutPath(string digest) => Path.Combine(root, digest.StartsWith("sha256:", StringComparison.Ordinal) ? digest[7..] : digest);

    /// <summary>Stores an archive and answers its digest; INVALID_ARGUMENT naming the entry when it is not a safe tar archive.</summary>
    public async Task<string> StoreAsync(byte[] archive, CancellationToken cancellationToken)
    {
        if (archive.Length == 0)
            throw Errors.Invalid(Reasons.InvalidArgument, "archive", "the archive is empty: send a tar or tar.gz archive of the build context");
        if (archive.Length > MaxArchiveBytes)
            throw Errors.Invalid(Reasons.InvalidArgument, "archive", $"the archive is {archive.Length} bytes; build context archives are limited to {MaxArchiveBytes} bytes");
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(archive));
        var target = CheckoutPath(digest);
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (Directory.Exists(Path.Combine(target, ".git")))
                return digest;
            var temp = Path.Combine(root, $".{Guid.NewGuid():N}");
            Directory.CreateDirectory(temp);
            try
            {
                Unpack(archive, temp);
                await GitAsync(temp, cancellationToken, "init", "--quiet", "--initial-branch=main");
                await GitAsync(temp, cancellationToken, "add", "--all", "--force");
                await GitAsync(temp, cancellationToken, "-c", "user.name=BuildGrid", "-c", "user.email=buildgrid@localhost", "-c", "commit.gpgsign=false",
                    "commit", "--quiet", "--allow-empty", "--no-verify", "-m", $"Build context {digest}");
                if (Directory.Exists(target))
                    Directory.Delete(target, recursive: true);
                Directory.Move(temp, target);
            }
            finally
            {
                if (Directory.Exists(temp))
                    Directory.Delete(temp, recursive: true);
            }
            return digest;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Extracts regular files and folders; refuses absolute names, "..", links, devices and oversized content.</summary>
    static void Unpack(byte[] archive, string into)
    {
        using var input = new MemoryStream(archive);
        Stream stream = archive is [0x1f, 0x8b, ..] ? new GZipStream(input, CompressionMode.Decompress) : input;
        using var _ = stream;
        var root = Path.GetFullPath(into) + Path.DirectorySeparatorChar;
        long total = 0;
        var entries = 0;
        try
        {
            using var reader = new TarReader(stream);
            while (reader.GetNextEntry() is { } entry)
            {
                if (++entries > MaxEntries)
                    throw Bad($"the archive has more than {MaxEntries} entries");
                var name = entry.Name.Replace('\\', '/');
                if (name.StartsWith('/') || name.Split('/').Contains("..") || name.Contains('\0') || name.Contains(':'))
                    throw Bad($"the entry '{Errors.Shorten(entry.Name)}' would land outside the build context");
                var path = Path.GetFullPath(Path.Combine(into, name));
                if (!(path + Path.DirectorySeparatorChar).StartsWith(root, StringComparison.Ordinal))
                    throw Bad($"the entry '{Errors.Shorten(entry.Name)}' would land outside the build context");
                switch (entry.EntryType)
                {
                    case TarEntryType.Directory:
                        Directory.CreateDirectory(path);
                        break;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        total += entry.Length;
                        if (total > MaxUnpackedBytes)
                            throw Bad($"the archive unpacks to more than {MaxUnpackedBytes} bytes");
                        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                        entry.ExtractToFile(path, overwrite: true);
                        break;
                    case TarEntryType.GlobalExtendedAttributes or TarEntryType.ExtendedAttributes:
                        break;
                    default:
                        throw Bad($"the entry '{Errors.Shorten(entry.Name)}' is a {entry.EntryType}; build contexts hold only files and folders");
                }
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException or ArgumentException)
        {
            throw Bad($"the body is not a tar or tar.gz archive ({e.Message})");
        }
    }

    static global::Grpc.Core.RpcException Bad(string message) => Errors.Invalid(Reasons.InvalidArgument, "archive", message);

    static async Task GitAsync(string directory, CancellationToken cancellationToken, params string[] args)
    {
        var start = new ProcessStartInfo("git") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        start.Environment["GIT_CONFIG_NOSYSTEM"] = "1";
        start.Environment["GIT_CONFIG_GLOBAL"] = "/dev/null";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("git could not be started");
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.StandardOutput.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"git {args[0]} failed with code {process.ExitCode}: {await stderr}");
    }
}
