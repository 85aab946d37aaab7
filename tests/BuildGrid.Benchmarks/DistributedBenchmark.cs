using System.Text;

namespace BuildGrid.Benchmarks;

/// <summary>
/// The distributed layout's load figure: the multi-process layout (Projects, Containers, Registry, Builds and the gateway, each its own
/// process, the gateway calling them by address) under N concurrent REST clients for a fixed time — a mix of image-market
/// reads and writes, svacer lists and Harbor listings. Reports req/s, p50/p99 and errors (goal: 0 errors).
/// </summary>
public static class DistributedBenchmark
{
    public static async Task RunAsync(int seconds, int clients)
    {
        var root = Path.Combine(Path.GetTempPath(), "buildgrid-bench", Guid.NewGuid().ToString("N"));
        var redis = BuildsBenchmark.StartRedis(out var redisPort);
        var services = new List<ServiceHost>();
        try
        {
            Dictionary<string, string> Env(string name) => new()
            {
                ["BUILDGRID_DATA_DIR"] = Path.Combine(root, name), ["BUILDGRID_REDIS"] = $"127.0.0.1:{redisPort}", ["Logging__LogLevel__Default"] = "Warning",
            };
            var urls = new Dictionary<string, string>();
            foreach (var (project, app) in new[] { ("BuildGrid.Projects", "PROJECTS"), ("BuildGrid.Containers", "CONTAINERS"), ("BuildGrid.Registry", "REGISTRY"), ("BuildGrid.Builds", "BUILDS") })
            {
                var host = await ServiceHost.StartAsync(project, Env(app.ToLowerInvariant()));
                services.Add(host);
                urls[$"BUILDGRID_{app}_URL"] = host.GrpcUrl.ToString();
            }
            var gatewayEnv = Env("gateway");
            foreach (var (key, value) in urls) gatewayEnv[key] = value;
            await using var gateway = await GatewayProcess.StartAsync(gatewayEnv);

            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
            { BaseAddress = gateway.RestUrl };
            for (var i = 0; i < 50; i++)
                await http.PostAsync("/api/project/new", Json($"{{\"projectName\":\"load-{i}\",\"operator\":\"bench\"}}"));
            await http.PostAsync("/api/public/admin/server/containers", Json("{\"action\":\"add\",\"type\":\"project\",\"name\":\"load\"}"));

            var result = await Load.RunAsync($"{clients} REST clients, 6 processes", clients, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(seconds), async i =>
            {
                using var response = (i % 10) switch
                {
                    0 => await http.PostAsync("/api/project/new", Json($"{{\"projectName\":\"w-{i}\"}}")),
                    1 or 2 => await http.GetAsync("/api/project/list?page=1&page_size=10&projectName=load"),
                    3 => await http.PostAsync("/api/public/admin/server/containers", Json("{\"action\":\"list\",\"name\":\"load\"}")),
                    4 => await http.GetAsync("/projects?page=1&page_size=10"),
                    _ => await http.GetAsync($"/api/project/info?projectName=load-{i % 50}"),
                };
                var body = await response.Content.ReadAsStringAsync();
                return response.IsSuccessStatusCode && !body.Contains("\"code\":10100", StringComparison.Ordinal);
            });
            Console.WriteLine(result);
            Console.WriteLine($"errors: {result.Errors} of {result.Calls} (goal 0)");
        }
        finally
        {
            foreach (var service in services) await service.DisposeAsync();
            redis.Kill();
            try { Directory.Delete(root, true); } catch (IOException) { }
        }
    }

    static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
