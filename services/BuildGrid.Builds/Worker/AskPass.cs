using BuildGrid.Core.Hosting;

namespace BuildGrid.Builds.Worker;

/// <summary>
/// The credentials of one clone, for git's prompt helper: a directory of its own (0700) with the user name and the
/// secret in files (0600) and a script git runs for each prompt (GIT_ASKPASS) that prints one of them. Nothing secret is
/// in any process's arguments or environment; dispose removes it all.
/// </summary>
public sealed class AskPass : IDisposable
{
    const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    readonly string directory;

    AskPass(string directory) => this.directory = directory;

    public string Script => Path.Combine(directory, "askpass");

    public static async Task<AskPass> CreateAsync(string parent, string username, string secret, CancellationToken cancellationToken)
    {
        OwnerOnlyFiles.CreateDirectory(parent);
        var own = Path.Combine(parent, Guid.NewGuid().ToString("N"));
        OwnerOnlyFiles.CreateDirectory(own);
        var prompt = new AskPass(own);
        try
        {
            await WriteAsync(Path.Combine(prompt.directory, "username"), username, OwnerReadWrite, cancellationToken);
            await WriteAsync(Path.Combine(prompt.directory, "password"), secret, OwnerReadWrite, cancellationToken);
            var quoted = "'" + prompt.directory.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
            await WriteAsync(prompt.Script, $"""
                #!/bin/sh
                case "$1" in
                  [Uu]sername*) exec cat {quoted}/username ;;
                  *) exec cat {quoted}/password ;;
                esac

                """, OwnerReadWrite | UnixFileMode.UserExecute, cancellationToken);
            return prompt;
        }
        catch
        {
            prompt.Dispose();
            throw;
        }
    }

    /// <summary>The clone's environment: git asks the script, and no configured credential helper stores what it answers.</summary>
    public Dictionary<string, string> Environment(IReadOnlyDictionary<string, string> environment) =>
        new(environment, StringComparer.Ordinal)
        {
            ["GIT_ASKPASS"] = Script,
            ["GIT_TERMINAL_PROMPT"] = "0",
            ["GIT_CONFIG_COUNT"] = "1",
            ["GIT_CONFIG_KEY_0"] = "credential.helper",
            ["GIT_CONFIG_VALUE_0"] = "",
        };

    static async Task WriteAsync(string path, string content, UnixFileMode mode, CancellationToken cancellationToken)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = mode;
        await using var file = new FileStream(path, options);
        await file.WriteAsync(System.Text.Encoding.UTF8.GetBytes(content), cancellationToken);
    }

    public void Dispose()
    {
        try { Directory.Delete(directory, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
