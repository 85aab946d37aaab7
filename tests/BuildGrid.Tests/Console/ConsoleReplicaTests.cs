using System.Net;
using BuildGrid.Tests.Infrastructure;

namespace BuildGrid.Tests.Console;

/// <summary>
/// Two replicas of a gateway of its own behind one address, as Kubernetes runs them: separate processes with separate
/// data directories and home directories (so ASP.NET's default per-machine key store would differ), in front of one
/// installation's services, sharing one PostgreSQL database. A console session begun on one replica (its cookie) is
/// honoured by the other, because the gateway keeps its Data Protection key ring in its own
/// schema (<c>gateway</c>) of the shared database, encrypted under the shared BUILDGRID_SERVICE_KEY.
/// </summary>
public sealed class ConsoleReplicaTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_session_started_on_one_gateway_replica_works_on_the_other()
    {
        var postgres = await PostgresServer.Shared;
        var database = await postgres.CreateDatabaseAsync();
        const string ServiceKey = "replica-test-service-key-0123456789";
        await using var services = await OwnedHost.StartAsync("replica-services", $"--BUILDGRID_SERVICE_KEY={ServiceKey}",
            "--BUILDGRID_ADMIN_PASSWORD=replica-admin-pw-1");
        var root = TestDirectories.Create("replica-gateways");
        var gateways = new List<ServiceProcess>();
        try
        {
            async Task<ServiceProcess> StartGatewayAsync(string name)
            {
                var home = Path.Combine(root, name, "home");
                Directory.CreateDirectory(home);
                var env = new Dictionary<string, string>(postgres.Settings(database))
                {
                    ["BUILDGRID_DATA_DIR"] = Path.Combine(root, name, "data"),
                    ["HOME"] = home,
                    ["BUILDGRID_SERVICE_KEY"] = ServiceKey,
                };
                foreach (var service in new[] { "PROJECTS", "CONTAINERS", "BUILDS", "REGISTRY", "IDENTITY" })
                    env[$"BUILDGRID_{service}_URL"] = services.GrpcUrl.ToString();
                var process = await ServiceProcess.StartAsync("BuildGrid.Gateway", env);
                gateways.Add(process);
                return process;
            }
            var first = await StartGatewayAsync("a");
            var second = await StartGatewayAsync("b");

            // Sign in on the first replica with the admin's password (exchanged for a session token there).
            using var one = new ConsoleClient(first.RestUrl);
            await one.SignInAsync("admin", "replica-admin-pw-1");
            Assert.Contains("Sign out", await one.PageAsync("/console/"));

            // The same cookies on the second replica: the session is read there (without the shared key ring it would
            // not decrypt, and the answer would be a redirect to sign-in).
            using var two = new ConsoleClient(second.RestUrl);
            foreach (Cookie cookie in one.Cookies.GetAllCookies())
                two.Cookies.Add(second.RestUrl, new Cookie(cookie.Name, cookie.Value, cookie.Path));
            using (var dashboard = await two.GetAsync("/console/"))
                Assert.True(dashboard.StatusCode == HttpStatusCode.OK,
                    $"the second replica answered {(int)dashboard.StatusCode} {dashboard.Headers.Location}\n{second.Output}");
            Assert.Contains("Sign out", await two.PageAsync("/console/"));
        }
        finally
        {
            foreach (var gateway in gateways)
                await gateway.DisposeAsync();
            TestDirectories.TryDelete(root);
        }
    }
}
