using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using BuildGrid.Core.Networking;
using BuildGrid.Projects.V1;
using Google.Protobuf.WellKnownTypes;

namespace BuildGrid.Projects.Domain.Plugins;

// The built-in plugins. Each renders Dockerfile instructions; values that reach the Dockerfile are quoted in JSON form
// or validated against a strict pattern, so no parameter can inject an instruction.

static partial class Dockerfile
{
    static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Quote(string value) => JsonSerializer.Serialize(value, Json);
    public static string Array(IEnumerable<string> values) => "[" + string.Join(", ", values.Select(Quote)) + "]";

    public static PluginParameter Param(string name, string type, bool required, string description) =>
        new() { Name = name, Type = type, Required = required, Description = description };

    [GeneratedRegex(@"^[a-zA-Z0-9][a-zA-Z0-9._/:@+-]*$")]
    public static partial Regex ImageReference();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_.-]*$")]
    public static partial Regex Identifier();

    [GeneratedRegex(@"^[a-zA-Z0-9][a-zA-Z0-9+.:~_-]*$")]
    public static partial Regex PackageName();

    [GeneratedRegex(@"^\d{1,5}(/(tcp|udp))?$")]
    public static partial Regex Port();

    public static string Path(PluginArgs args, string name, bool absolute)
    {
        var path = args.RequiredLine(name);
        if (absolute && !path.StartsWith('/'))
            throw args.Fail(name, $"parameter '{name}' must be an absolute path");
        if (!absolute && (path.StartsWith('/') || path.Split('/', '\\').Contains("..")))
            throw args.Fail(name, $"parameter '{name}' must be a path inside the build context (no leading '/' and no '..')");
        return path;
    }
}

public sealed class BaseImagePlugin : IPlugin
{
    public string Name => "base-image";
    public string Summary => "FROM: the image the build starts from.";
    public IReadOnlyList<PluginParameter> Parameters { get; } =
    [
        Dockerfile.Param("image", "string", true, "Image reference, e.g. debian:12-slim or docker.io/library/alpine:3.20"),
        Dockerfile.Param("platform", "string", false, "Optional platform, e.g. linux/amd64"),
    ];

    public string Render(PluginArgs args)
    {
        var image = args.RequiredLine("image", 256);
        if (!Dockerfile.ImageReference().IsMatch(image))
            throw args.Fail("image", $"parameter 'image' is not an image reference: {image}");
        var platform = args.Line("platform", 64);
        if (platform is { Length: > 0 } && !Dockerfile.ImageReference().IsMatch(platform))
            throw args.Fail("platform", $"parameter 'platform' is not a platform: {platform}");
        return platform is { Length: > 0 } ? $"FROM --platform={platform} {image}" : $"FROM {image}";
    }
}

public sealed class PackagesPlugin : IPlugin
{
    public string Name => "packages";
    public string Summary => "RUN: installs OS packages with apt, apk, dnf or yum.";
    public IReadOnlyList<PluginParameter> Parameters { get; } =
    [
        Dockerfile.Param("packages", "string[]", true, "Package names"),
        Dockerfile.Param("manager", "string", false, "apt (default), apk, dnf or yum"),
    ];

    public string Render(PluginArgs args)
    {
        var packages = args.StringList("packages");
        if (packages.Count == 0)
            throw args.Fail("packages", "parameter 'packages' must name at least one package");
        foreach (var package in packages.Where(p => !Dockerfile.PackageName().IsMatch(p)))
            throw args.Fail("packages", $"'{package}' is not a package name");
        var list = string.Join(' ', packages);
        return (args.Line("manager", 16) ?? "apt") switch
        {
            "apt" => $"RUN apt-get update && apt-get install -y --no-install-recommends {list} && rm -rf /var/lib/apt/lists/*",
            "apk" => $"RUN apk add --no-cache {list}",
            "dnf" => $"RUN dnf install -y {list} && dnf clean all",
            "yum" => $"RUN yum install -y {list} && yum clean all",
            var other => throw args.Fail("manager", $"parameter 'manager' must be apt, apk, dnf or yum, not '{other}'"),
        };
    }
}

public sealed class EnvPlugin : IPlugin
{
    public string Name => "env";
    public string Summary => "ENV: environment variables of the image.";
    public IReadOnlyList<PluginParameter> Parameters { get; } =
        [Dockerfile.Param("variables", "map", true, "Variable names and values")];

    public string Render(PluginArgs args)
    {
        var variables = args.Map("variables");
        if (variables.Count == 0)
            throw args.Fail("variables", "parameter 'variables' must set at least one variable");
        foreach (var (key, _) in variables.Where(v => !Dockerfile.Identifier().IsMatch(v.Key)))
            throw args.Fail("variables", $"'{key}' is not a variable name");
        return "ENV " + string.Join(" ", variables.Select(v => $"{v.Key}={Dockerfile.Quote(v.Value)}"));
    }
}

public sealed class RunPlugin : IPlugin
{
    public string Name => "run";
    public string Summary => "RUN: a shell command (several lines allowed).";
    public IReadOnlyList<PluginParameter> Parameters { get; } = [Dockerfile.Param("command", "string", true, "Shell command")];

    public string Render(PluginArgs args)
    {
        var command = args.Text("command") is { Length: > 0 } text ? text : throw args.Fail("command", "parameter 'command' must not be empty");
        return command.Contains('\n') || command.Contains('\r')
            ? $"RUN {Dockerfile.Array(["/bin/sh", "-c", command])}"
            : $"RUN {command}";
    }
}

public sealed class WorkdirPlugin : IPlugin
{
    public string Name => "workdir";
    public string Summary => "WORKDIR: the working directory.";
    public IReadOnlyList<PluginParameter> Parameters { get; } = [Dockerfile.Param("path", "string", true, "Absolute path")];
    public string Render(PluginArgs args) => $"WORKDIR {Dockerfile.Path(args, "path", absolute: true)}";
}

public sealed class CopyFilePlugin : IPlugin
{
    public string Name => "copy-file";
    public string Summary => "COPY: a file or folder of the build context into the image.";
    public IReadOnlyList<PluginParameter> Parameters { get; } =
    [
        Dockerfile.Param("source", "string", true, "Path inside the build context"),
        Dockerfile.Param("destination", "string", true, "Absolute path in the image"),
    ];

    public string Render(PluginArgs args) =>
        $"COPY {Dockerfile.Array([Dockerfile.Path(args, "source", absolute: false), Dockerfile.Path(args, "destination", absolute: true)])}";
}

/// <summary>
/// ADD of a URL: buildah fetches it from the host's own network, so the URL is held to the outbound
/// <see cref="NetworkPolicy"/> (no loopback, link-local/metadata or own-interface address unless
/// Projects:AllowedNetworks allows it): its literal host when saved or rendered, every address its name resolves to when
/// a build renders it (<see cref="CheckTargetsAsync"/>).
/// </summary>
public sealed class DownloadFilePlugin(NetworkPolicy policy) : IPlugin
{
    public string Name => "download-file";
    public string Summary => "ADD: downloads a file from an http(s) URL into the image.";
    public IReadOnlyList<PluginParameter> Parameters { get; } =
    [
        Dockerfile.Param("url", "string", true, "http:// or https:// URL"),
        Dockerfile.Param("destination", "string", true, "Absolute path in the image (a folder if it ends with '/')"),
    ];

    public IReadOnlyList<string> Methods => ["download file"];

    public string Render(PluginArgs args)
    {
        var (url, destination) = Resolve(args);
        return $"ADD {Dockerfile.Array([url.AbsoluteUri, destination])}";
    }

    /// <summary>"download file": what the step will fetch and where the file lands, without building.</summary>
    public Value Invoke(string method, PluginArgs args)
    {
        var (url, destination) = Resolve(args);
        var fileName = Uri.UnescapeDataString(url.Segments[^1]);
        var target = destination.EndsWith('/') ? destination + fileName : destination;
        return Value.ForStruct(new Struct
        {
            Fields =
            {
                ["url"] = Value.ForString(url.AbsoluteUri),
                ["fileName"] = Value.ForString(fileName),
                ["destination"] = Value.ForString(target),
                ["instruction"] = Value.ForString(Render(args)),
            },
        });
    }

    (Uri Url, string Destination) Resolve(PluginArgs args)
    {
        var text = args.RequiredLine("url", 2048);
        if (!NetworkPolicy.TryParseHttpUrl(text, out var url) || url.Segments[^1] is "/" or "")
            throw args.Fail("url", $"parameter 'url' must be an http(s) URL of a file, not '{text}'");
        if (policy.CheckLiteral(url) is { } refusal)
            throw args.Fail("url", $"parameter 'url' {url.AbsoluteUri} is refused: {refusal}");
        return (url, Dockerfile.Path(args, "destination", absolute: true));
    }

    public async Task CheckTargetsAsync(PluginArgs args, CancellationToken cancellationToken)
    {
        var (url, _) = Resolve(args);
        if (await policy.CheckUrlAsync(url, cancellationToken) is { } refusal)
            throw args.Fail("url", $"parameter 'url' {url.AbsoluteUri} is refused: {refusal}");
    }
}

public sealed class ExposePlugin : IPlugin
{
    public string Name => "expose";
    public string Summary => "EXPOSE: ports the container listens on.";
    public IReadOnlyList<PluginParameter> Parameters { get; } = [Dockerfile.Param("ports", "string[]", true, "Ports such as 8080 or 53/udp")];

    public string Render(PluginArgs args)
    {
        var ports = args.StringList("ports");
        if (ports.Count == 0)
            throw args.Fail("ports", "parameter 'ports' must name at least one port");
        foreach (var port in ports)
        {
            if (!Dockerfile.Port().IsMatch(port) || int.Parse(port.Split('/')[0]) is < 1 or > 65535)
                throw args.Fail("ports", $"'{port}' is not a port (1-65535, optionally /tcp or /udp)");
        }
        return $"EXPOSE {string.Join(' ', ports)}";
    }
}

public sealed class LabelPlugin : IPlugin
{
    public string Name => "label";
    public string Summary => "LABEL: metadata of the image.";
    public IReadOnlyList<PluginParameter> Parameters { get; } = [Dockerfile.Param("labels", "map", true, "Label keys and values")];

    public string Render(PluginArgs args)
    {
        var labels = args.Map("labels");
        if (labels.Count == 0)
            throw args.Fail("labels", "parameter 'labels' must set at least one label");
        return "LABEL " + string.Join(" ", labels.Select(l => $"{Dockerfile.Quote(l.Key)}={Dockerfile.Quote(l.Value)}"));
    }
}

public sealed class UserPlugin : IPlugin
{
    public string Name => "user";
    public string Summary => "USER: the user (and group) the container runs as.";
    public IReadOnlyList<PluginParameter> Parameters { get; } = [Dockerfile.Param("user", "string", true, "name, uid, name:group or uid:gid")];

    public string Render(PluginArgs args)
    {
        var user = args.RequiredLine("user", 64);
        if (!user.Split(':').All(part => Dockerfile.Identifier().IsMatch(part) || part.All(char.IsAsciiDigit) && part.Length > 0) || user.Count(c => c == ':') > 1)
            throw args.Fail("user", $"'{user}' is not a user or user:group");
        return $"USER {user}";
    }
}

public sealed class EntrypointPlugin : IPlugin
{
    public string Name => "entrypoint";
    public string Summary => "ENTRYPOINT: the program the container runs.";
    public IReadOnlyList<PluginParameter> Parameters { get; } = [Dockerfile.Param("command", "string[]", true, "Program and arguments")];

    public string Render(PluginArgs args) =>
        args.StringList("command") is { Count: > 0 } command
            ? $"ENTRYPOINT {Dockerfile.Array(command)}"
            : throw args.Fail("command", "parameter 'command' must not be empty");
}

public sealed class CmdPlugin : IPlugin
{
    public string Name => "cmd";
    public string Summary => "CMD: default arguments (or command) of the container.";
    public IReadOnlyList<PluginParameter> Parameters { get; } = [Dockerfile.Param("command", "string[]", true, "Arguments")];

    public string Render(PluginArgs args) =>
        args.StringList("command") is { Count: > 0 } command
            ? $"CMD {Dockerfile.Array(command)}"
            : throw args.Fail("command", "parameter 'command' must not be empty");
}
