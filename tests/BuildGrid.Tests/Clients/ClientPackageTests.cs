using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Xml.Linq;
using BuildGrid.Core.Errors;
using BuildGrid.Identity.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace BuildGrid.Tests.Clients;

/// <summary>
/// The BuildGrid.Client package as an outside team gets it: <c>dotnet pack</c> into a folder feed, a new project in a
/// temp directory (its own nuget.config, Directory.Build.props and Directory.Packages.props, so none of this repository's
/// settings apply) that restores the package by version, builds for net8.0 and net10.0, and runs against a real host
/// with an admin password: an API token as Bearer credentials over h2c, a project, a run whose log it streams, a
/// registry repository it lists, an ErrorInfo reason, and retries of <c>Unavailable</c> on idempotent calls only.
/// </summary>
public sealed class ClientPackageTests
{
    const string AdminPassword = "Cl1ent-package-s3cret";
    static CancellationToken Ct => TestContext.Current.CancellationToken;
#if DEBUG
    const string Configuration = "Debug";
#else
    const string Configuration = "Release";
#endif

    [Fact]
    public async Task A_consumer_restores_the_packed_package_and_calls_Projects_Builds_and_Registry_through_it()
    {
        var work = TestDirectories.Create("client-package");
        var version = $"1.0.0-t{Guid.NewGuid():N}"[..18];
        try
        {
            var feed = Path.Combine(work, "feed");
            var nupkg = await PackAsync(feed, version);
            AssertPackageMetadata(nupkg, version);

            var consumer = WriteConsumer(Path.Combine(work, "consumer"), feed, version);
            var build = await DotnetAsync(consumer, TimeSpan.FromMinutes(4), "build", "-c", "Release", "-nologo", "-v", "quiet");
            Assert.True(build.ExitCode == 0, "the consumer did not build:\n" + build.Output);

            await using var host = await OwnedHost.StartAsync("client-package", $"--BUILDGRID_ADMIN_PASSWORD={AdminPassword}");
            var token = await CreateApiTokenAsync(host.GrpcUrl);
            await using var flaky = await UnavailableServer.StartAsync();
            var name = $"clientpkg{Environment.ProcessId % 1000}x{DateTime.UtcNow:HHmmss}";

            var dll = Path.Combine(consumer, "bin", "Release", "net10.0", "Consumer.dll");
            var run = await DotnetAsync(consumer, TimeSpan.FromMinutes(2), dll, host.GrpcUrl.ToString(), token, name, flaky.Url.ToString());
            Assert.True(run.ExitCode == 0, "the consumer failed:\n" + run.Output);
            var lines = run.Output.Split('\n', StringSplitOptions.TrimEntries);
            string One(string prefix) => Assert.Single(lines, l => l.StartsWith(prefix, StringComparison.Ordinal))[prefix.Length..];

            Assert.Equal($"{name} default_cluster", One("project: "));
            var log = lines.Where(l => l.StartsWith("log: ", StringComparison.Ordinal)).Select(l => l[5..]).ToList();
            var first = log.IndexOf("built by the client package");
            Assert.True(first >= 0 && log.IndexOf("second line") > first, "the streamed log:\n" + string.Join('\n', log));
            Assert.Equal("Succeeded", One("state: "));
            Assert.Contains($"default_cluster/{name}", lines.Where(l => l.StartsWith("repository: ", StringComparison.Ordinal)).Select(l => l[12..]));
            Assert.Equal($"NotFound {Reasons.ProjectNotFound} True id={name}-missing", One("missing: "));
            Assert.Equal("Unauthenticated", One("anonymous: "));

            // The package's reason constants are the server's table, name for name.
            var serverReasons = typeof(Reasons).GetFields().Where(f => f.IsLiteral).Select(f => $"{f.Name}={f.GetRawConstantValue()}").Order();
            Assert.Equal(serverReasons, One("reasons: ").Split(',').Order());

            // Against a server that answers Unavailable: a read is tried MaxAttempts (4) times, a create once.
            Assert.Equal("Unavailable Unavailable", One("flaky: "));
            Assert.Equal(4, flaky.Attempts("ListProjects"));
            Assert.Equal(1, flaky.Attempts("CreateProject"));
            Assert.Contains("/buildgrid.builds.v1.BuildRuns/WatchRunLog", One("retried: ").Split(','));
            Assert.DoesNotContain("/buildgrid.builds.v1.BuildRuns/StartRun", One("retried: ").Split(','));
        }
        finally
        {
            TestDirectories.TryDelete(work);
            // The unique pre-release version was extracted into the machine's package folder: leave nothing behind.
            TestDirectories.TryDelete(Path.Combine(GlobalPackagesFolder, "buildgrid.client", version));
        }
    }

    /// <summary>Packs the project the test build compiled (the tests reference it for that), with a unique version.</summary>
    static async Task<string> PackAsync(string feed, string version)
    {
        var project = Path.Combine(TestDirectories.RepositoryRoot, "protos", "BuildGrid.Client", "BuildGrid.Client.csproj");
        var pack = await DotnetAsync(TestDirectories.RepositoryRoot, TimeSpan.FromMinutes(3), "pack", project, "-c", Configuration, "--no-build",
            "-nologo", "-v", "quiet", "-o", feed, $"-p:VersionSuffix={version[(version.IndexOf('-') + 1)..]}");
        Assert.True(pack.ExitCode == 0, "dotnet pack failed:\n" + pack.Output);
        var nupkg = Path.Combine(feed, $"BuildGrid.Client.{version}.nupkg");
        Assert.True(File.Exists(nupkg), $"no {nupkg}; the feed has: {string.Join(", ", Directory.GetFiles(feed).Select(Path.GetFileName))}");
        return nupkg;
    }

    static void AssertPackageMetadata(string nupkg, string version)
    {
        using var zip = ZipFile.OpenRead(nupkg);
        var entries = zip.Entries.Select(e => e.FullName).ToHashSet();
        Assert.Contains("lib/net8.0/BuildGrid.Client.dll", entries);
        Assert.Contains("lib/net10.0/BuildGrid.Client.dll", entries);
        Assert.Contains("lib/net10.0/BuildGrid.Client.xml", entries);
        Assert.Contains("README.md", entries);
        using var nuspecStream = zip.GetEntry("BuildGrid.Client.nuspec")!.Open();
        var nuspec = XDocument.Load(nuspecStream).Root!;
        string Field(string name) => nuspec.Descendants().Single(e => e.Name.LocalName == name).Value;
        Assert.Equal(version, Field("version"));
        Assert.Equal("Apache-2.0", Field("license"));
        Assert.Equal("README.md", Field("readme"));
        Assert.Equal("BuildGrid contributors", Field("authors"));
        Assert.Contains("AddBuildGridClients", Field("description"));
        var groups = nuspec.Descendants().Where(e => e.Name.LocalName == "group").ToList();
        Assert.Equal(["net10.0", "net8.0"], groups.Select(g => g.Attribute("targetFramework")!.Value).Order());
        foreach (var group in groups)
        {
            var ids = group.Elements().Select(d => d.Attribute("id")!.Value).ToList();
            Assert.Contains("Grpc.Net.ClientFactory", ids);
            Assert.DoesNotContain(ids, id => id.StartsWith("BuildGrid", StringComparison.Ordinal));
        }
    }

    static string WriteConsumer(string dir, string feed, string version)
    {
        Directory.CreateDirectory(dir);
        // Only the folder feed is added: NuGet merges this file with the machine's own configuration and its sources.
        File.WriteAllText(Path.Combine(dir, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="buildgrid-client-test-feed" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(dir, "Directory.Build.props"), "<Project />\n");
        File.WriteAllText(Path.Combine(dir, "Directory.Packages.props"),
            "<Project><PropertyGroup><ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup></Project>\n");
        File.WriteAllText(Path.Combine(dir, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFrameworks>net10.0;net8.0</TargetFrameworks>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                <UseAppHost>false</UseAppHost>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="BuildGrid.Client" Version="{version}" />
                <PackageReference Include="Microsoft.Extensions.DependencyInjection" Version="8.0.1" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), ConsumerProgram);
        return dir;
    }

    const string ConsumerProgram = """
        using BuildGrid.Builds.V1;
        using BuildGrid.Client;
        using BuildGrid.Projects.V1;
        using BuildGrid.Registry.V1;
        using Grpc.Core;
        using Microsoft.Extensions.DependencyInjection;

        var (address, token, name, flakyAddress) = (new Uri(args[0]), args[1], args[2], new Uri(args[3]));
        using var services = new ServiceCollection().AddBuildGridClients(o => { o.Address = address; o.Token = token; }).BuildServiceProvider();
        var projects = services.GetRequiredService<Projects.ProjectsClient>();
        var runs = services.GetRequiredService<BuildRuns.BuildRunsClient>();
        var registry = services.GetRequiredService<Registry.RegistryClient>();

        var project = await projects.CreateProjectAsync(new CreateProjectRequest { Name = name });
        Console.WriteLine($"project: {project.Name} {project.Cluster}");

        var run = await runs.StartRunAsync(new StartRunRequest
        {
            Project = name,
            Spec = new RunSpec { Script = "echo built by the client package; echo second line", TimeoutSeconds = 120 },
        });
        using (var log = runs.WatchRunLog(new WatchRunLogRequest { Id = run.Id }))
            await foreach (var line in log.ResponseStream.ReadAllAsync())
                Console.WriteLine($"log: {line.Text}");
        Console.WriteLine($"state: {(await runs.GetRunAsync(new GetRunRequest { Id = run.Id })).State}");

        await registry.CreateRepositoryAsync(new CreateRepositoryRequest { Name = $"{project.Cluster}/{name}", Description = "made by the consumer" });
        foreach (var repository in (await registry.ListRepositoriesAsync(new ListRepositoriesRequest { NamePrefix = project.Cluster + "/" })).Repositories)
            Console.WriteLine($"repository: {repository.Name}");

        try
        {
            await projects.GetProjectAsync(new GetProjectRequest { Name = name + "-missing" });
        }
        catch (RpcException e)
        {
            var id = e.GetErrorInfo() is { } info && info.Metadata.TryGetValue("id", out var value) ? value : "?";
            Console.WriteLine($"missing: {e.StatusCode} {e.GetErrorReason()} {e.HasReason(ErrorReasons.ProjectNotFound)} id={id}");
        }

        using (var anonymous = new ServiceCollection().AddBuildGridClients(o => o.Address = address).BuildServiceProvider())
        {
            try
            {
                await anonymous.GetRequiredService<Projects.ProjectsClient>().ListProjectsAsync(new ListProjectsRequest());
                Console.WriteLine("anonymous: answered");
            }
            catch (RpcException e)
            {
                Console.WriteLine($"anonymous: {e.StatusCode}");
            }
        }

        using (var flaky = new ServiceCollection().AddBuildGridClients(o => { o.Address = flakyAddress; o.InitialBackoff = TimeSpan.FromMilliseconds(20); })
            .BuildServiceProvider())
        {
            var client = flaky.GetRequiredService<Projects.ProjectsClient>();
            var statuses = new List<StatusCode>();
            foreach (var call in new Func<Task>[]
            {
                async () => await client.ListProjectsAsync(new ListProjectsRequest()),
                async () => await client.CreateProjectAsync(new CreateProjectRequest { Name = "never" }),
            })
            {
                try { await call(); statuses.Add(StatusCode.OK); }
                catch (RpcException e) { statuses.Add(e.StatusCode); }
            }
            Console.WriteLine($"flaky: {string.Join(' ', statuses)}");
        }

        Console.WriteLine("retried: " + string.Join(",", ClientRetry.RetriedMethods));
        Console.WriteLine("reasons: " + string.Join(",", typeof(ErrorReasons).GetFields().Where(f => f.IsLiteral).Select(f => $"{f.Name}={f.GetRawConstantValue()}")));
        """;

    static async Task<string> CreateApiTokenAsync(Uri grpcUrl)
    {
        using var channel = GrpcChannel.ForAddress(grpcUrl);
        var admin = new Metadata { { "authorization", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{AdminPassword}")) } };
        var created = await new global::BuildGrid.Identity.V1.Identity.IdentityClient(channel).CreateTokenAsync(new CreateTokenRequest { Name = "client-package" }, admin,
            cancellationToken: Ct);
        return created.Secret;
    }

    static string GlobalPackagesFolder =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } folder
            ? folder
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    /// <summary>
    /// Runs the dotnet CLI as a developer's shell would: without the MSBuild and test-host variables that <c>dotnet test</c>
    /// sets for this process, which would make the child build with this build's settings.
    /// </summary>
    static async Task<(int ExitCode, string Output)> DotnetAsync(string workingDirectory, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet", arguments)
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)
            || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase) || k is "MSBuildExtensionsPath" or "MSBuildSDKsPath" or "MSBuildLoadMicrosoftTargetsReadOnly").ToList())
            start.Environment.Remove(key);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        // No build server left running after the test.
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(Ct);
        var error = process.StandardError.ReadToEndAsync(Ct);
        try
        {
            await process.WaitForExitAsync(Ct).WaitAsync(timeout, Ct);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', arguments)} took over {timeout}");
        }
        return (process.ExitCode, await output + await error);
    }

    /// <summary>
    /// A gRPC server whose every call answers <c>Unavailable</c> (as a restarting server or a proxy without a backend does),
    /// counting the attempts per method, so that the test sees which calls the client repeats.
    /// </summary>
    sealed class UnavailableServer : IAsyncDisposable
    {
        readonly WebApplication app;
        readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> attempts = new();

        UnavailableServer(WebApplication app) => this.app = app;

        public Uri Url => new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());

        public int Attempts(string method) => attempts.GetValueOrDefault(method);

        public static async Task<UnavailableServer> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
            builder.Logging.ClearProviders();
            var app = builder.Build();
            var server = new UnavailableServer(app);
            app.MapPost("/buildgrid.projects.v1.Projects/{method}", (string method, HttpContext http) =>
            {
                server.attempts.AddOrUpdate(method, 1, (_, n) => n + 1);
                // A trailers-only gRPC answer: the status in the headers, no message.
                http.Response.ContentType = "application/grpc";
                http.Response.Headers["grpc-status"] = ((int)StatusCode.Unavailable).ToString(System.Globalization.CultureInfo.InvariantCulture);
                http.Response.Headers["grpc-message"] = "restarting";
                return Task.CompletedTask;
            });
            await app.StartAsync();
            return server;
        }

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
