using System.Text;
using System.Text.Json;

namespace BuildGrid.Builds.Worker;

/// <summary>
/// A containers-auth.json(5) file private to one step of a run (buildah's <c>--authfile</c>): mode 0600 in a 0700
/// directory outside the workspace — so that no build context and no script can read it — and removed on dispose.
/// Credentials handed this way never appear in a process's command line or environment, which any local user can read
/// in <c>/proc</c>. An auth file with no entries still replaces the host's own (<c>/run/containers/0/auth.json</c>),
/// so a run never borrows the credentials of whoever logged in on the worker.
/// </summary>
public sealed class RegistryAuthFile : IDisposable
{
    RegistryAuthFile(string path) => Path = path;

    public string Path { get; }

    /// <summary>Writes an auth file for <paramref name="hosts"/> (all with the same user and password; none when empty).</summary>
    public static RegistryAuthFile Create(string directory, string name, IEnumerable<string> hosts, string user, string password)
    {
        if (OperatingSystem.IsWindows())
            throw new PlatformNotSupportedException("Builds run on Linux (buildah): a private auth file needs Unix file modes.");
        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));
        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["auths"] = hosts.Distinct(StringComparer.OrdinalIgnoreCase).ToDictionary(h => h, _ => new Dictionary<string, string> { ["auth"] = auth }),
        });
        var path = System.IO.Path.Combine(directory, name);
        File.Delete(path);
        using (var file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
            file.Write(body);
        return new RegistryAuthFile(path);
    }

    /// <summary>An auth file with no credentials at all.</summary>
    public static RegistryAuthFile Empty(string directory, string name) => Create(directory, name, [], "", "");

    public void Dispose()
    {
        try { File.Delete(Path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
