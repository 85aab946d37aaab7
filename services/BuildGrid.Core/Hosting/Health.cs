using System.Text;
using BuildGrid.Core.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace BuildGrid.Core.Hosting;

/// <summary>
/// Liveness and readiness of every BuildGrid process:
/// <list type="bullet">
/// <item><c>/healthz</c> — liveness: the process answers (no dependency is checked, so a Redis or database outage never
/// gets a pod restarted);</item>
/// <item><c>/readyz</c> — readiness: each service database answers (<c>sql:&lt;name&gt;</c>), Redis or the embedded Garnet
/// answers PING (<c>redis</c>, where the process uses one), and the data directory's file system has more than
/// <c>BUILDGRID_DISK_RESERVE_MB</c> (default 512) free (<c>disk</c>). 200 "Healthy", else 503 with one line per failing
/// check: <c>redis: Unhealthy (…)</c>;</item>
/// <item><c>grpc.health.v1.Health</c> on the gRPC listener (Grpc.AspNetCore.HealthChecks): the readiness checks, for
/// gRPC-aware probes and load balancers.</item>
/// </list>
/// </summary>
public static class Health
{
    public const string ReadyTag = "ready";
    public const string DiskReserveSetting = "BUILDGRID_DISK_RESERVE_MB";
    public const int DefaultDiskReserveMb = 512;
    static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The gRPC health methods, which probes call without credentials.</summary>
    public static readonly string[] GrpcMethods = ["/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch", "/grpc.health.v1.Health/List"];

    internal static void AddBuildGridHealth(this IServiceCollection services, BuildGridSettings settings, IConfiguration configuration)
    {
        var reserve = configuration[DiskReserveSetting] is { Length: > 0 } text
            ? long.TryParse(text, out var mb) && mb >= 0 ? mb : throw new StartupException($"{DiskReserveSetting} must be a number of megabytes, not '{text}'.")
            : DefaultDiskReserveMb;
        services.AddHealthChecks()
            .AddCheck("disk", () => DiskCheck(settings.DataDir, reserve), [ReadyTag])
            .Add(new HealthCheckRegistration("redis", sp => new RedisCheck(sp), HealthStatus.Unhealthy, [ReadyTag], CheckTimeout));
        services.AddGrpcHealthChecks(o => o.Services.Map("", check => check.Tags.Contains(ReadyTag)));
    }

    /// <summary>A readiness check of a service database: a connection and <c>SELECT 1</c>.</summary>
    internal static void AddDatabaseCheck(this IServiceCollection services, string name) =>
        services.AddHealthChecks().Add(new HealthCheckRegistration($"sql:{name}",
            sp => new DatabaseCheck(sp.GetRequiredKeyedService<ServiceDatabase>(name)), HealthStatus.Unhealthy, [ReadyTag], CheckTimeout));

    internal static void MapBuildGridHealth(this WebApplication app)
    {
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(ReadyTag),
            ResponseWriter = WriteAsync,
        });
        app.MapGrpcHealthChecksService();
    }

    static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        if (report.Status == HealthStatus.Healthy)
            return context.Response.WriteAsync("Healthy\n");
        var text = new StringBuilder();
        foreach (var (name, entry) in report.Entries.Where(e => e.Value.Status != HealthStatus.Healthy).OrderBy(e => e.Key, StringComparer.Ordinal))
            text.Append(name).Append(": ").Append(entry.Status).Append(" (").Append(entry.Description ?? entry.Exception?.Message ?? "no answer").Append(")\n");
        return context.Response.WriteAsync(text.ToString());
    }

    static HealthCheckResult DiskCheck(string dataDir, long reserveMb)
    {
        var free = new DriveInfo(dataDir).AvailableFreeSpace / (1024 * 1024);
        return free > reserveMb
            ? HealthCheckResult.Healthy($"{free} MB free")
            : HealthCheckResult.Unhealthy($"{free} MB free in {dataDir}, not more than {DiskReserveSetting}={reserveMb}");
    }

    sealed class RedisCheck(IServiceProvider services) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            if (services.GetService<RedisConnection>() is not { } connection)
                return HealthCheckResult.Healthy("not used by this process");
            try
            {
                var redis = await connection.GetAsync(cancellationToken);
                var latency = await redis.GetDatabase().PingAsync().WaitAsync(cancellationToken);
                return HealthCheckResult.Healthy($"PING {latency.TotalMilliseconds:0.#} ms");
            }
            catch (Exception e) when (e is RedisException or TimeoutException or OperationCanceledException)
            {
                return HealthCheckResult.Unhealthy($"Redis does not answer PING: {e.Message}");
            }
        }
    }

    sealed class DatabaseCheck(ServiceDatabase database) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                await using var connection = await database.OpenAsync(cancellationToken);
                await using var command = connection.CreateCommand();
                command.CommandText = "SELECT 1";
                await command.ExecuteScalarAsync(cancellationToken);
                return HealthCheckResult.Healthy();
            }
            catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException or IOException or OperationCanceledException)
            {
                return HealthCheckResult.Unhealthy($"database {database.Name} does not answer: {e.Message}");
            }
        }
    }
}
