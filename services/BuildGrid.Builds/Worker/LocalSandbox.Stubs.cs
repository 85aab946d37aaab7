using System.Collections.Concurrent;
using System.Globalization;

namespace BuildGrid.Builds.Worker;

/// <summary>
/// How a sandbox starts: its <see cref="Stub"/> (setpriv, and for the default network pasta with the prohibit routes),
/// and the pool of warm stubs an idle worker keeps started ahead.
/// </summary>
public sealed partial class LocalSandbox
{
    /// <summary>
    /// The outer part of a sandbox, started before its command is known: <c>env --default-signal</c>, <c>setpriv</c> to the
    /// leased uid, and for the default network pasta with its routes; then <c>sh -s</c>, which waits for the launcher
    /// script (<see cref="Lease.RunAsync"/>) on its input. Nothing of a run is in it until then: no workspace, no
    /// environment, no mount namespace (bwrap starts from the launcher, for that run only).
    /// </summary>
    internal sealed class Stub : IDisposable
    {
        Stub(ProcessRunner.Running process, int? uid, string routes) => (Process, Uid, RouteScript) = (process, uid, routes);

        public ProcessRunner.Running Process { get; }
        public int? Uid { get; }
        /// <summary>The routes it was started with: a warm stub whose host addresses changed since is not used.</summary>
        public string RouteScript { get; }

        public static Stub Start(int? uid, string network)
        {
            // The worker (.NET) ignores SIGPIPE, and an ignored signal stays ignored across exec: pasta refuses to start
            // so ("Couldn't install signal handlers") and a script's `yes | head` would misbehave. Every signal is reset.
            var command = new List<string> { "--default-signal" };
            if (uid is { } leased)
            {
                var id = leased.ToString(CultureInfo.InvariantCulture);
                command.AddRange([Tools.Setpriv, $"--reuid={id}", $"--regid={id}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"]);
            }
            var routes = "";
            if (network == "pasta")
            {
                // pasta (passt) gives the namespace outbound TCP/UDP through the host's sockets: no port is forwarded in
                // either direction (-t/-u/-T/-U none), the gateway is not mapped to the host (--no-map-gw); the routes
                // refuse link-local (cloud metadata) and this host's own addresses before the launcher is read.
                routes = Routes();
                command.AddRange([Tools.Pasta, "--config-net", "--quiet", "-t", "none", "-u", "none", "-T", "none", "-U", "none", "--no-map-gw", "--",
                    Tools.Sh, "-c", routes + $"exec {Tools.Sh} -s\n", "sh"]);
            }
            else
                command.AddRange([Tools.Sh, "-s"]);
            return new Stub(ProcessRunner.Start(Tools.Env, command, "/", new Dictionary<string, string> { ["PATH"] = DefaultPath }), uid, routes);
        }

        /// <summary>
        /// The commands pasta runs in the new namespace before anything of the run: one <c>ip -batch</c> (one process, not one per address)
        /// adds every prohibit route, and any failure stops the run before the script starts. IPv6 routes are added
        /// wherever the kernel has IPv6 at all (the namespace then has it too).
        /// </summary>
        internal static string Routes()
        {
            var routes = new List<string> { "route replace prohibit 169.254.0.0/16" };
            var ipv6 = System.Net.Sockets.Socket.OSSupportsIPv6;
            if (ipv6)
                routes.Add("route replace prohibit fe80::/10");
            foreach (var address in System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
                .SelectMany(n => n.GetIPProperties().UnicastAddresses).Select(u => u.Address)
                .Where(a => !System.Net.IPAddress.IsLoopback(a) && !a.IsIPv6LinkLocal).Distinct())
            {
                if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
                {
                    if (ipv6 && !address.IsIPv4MappedToIPv6) routes.Add($"route replace prohibit {address}/128");
                }
                else
                    routes.Add($"route replace prohibit {address}/32");
            }
            return $"set -e\n{Tools.Ip} -batch - <<'ROUTES'\n{string.Join('\n', routes)}\nROUTES\n";
        }

        public void Dispose() => Process.Dispose();
    }

    readonly ConcurrentQueue<Stub> warmStubs = new();
    int warmCount;
    bool disposed;
    /// <summary>Set once <see cref="CheckAsync"/> has started a real sandbox of each network mode.</summary>
    volatile bool passedCheck;

    /// <summary>
    /// Starts default-network stubs until <see cref="BuildsOptions.WarmSandboxes"/> are ready (in the background): at
    /// worker start, and whenever a run's sandbox is done, so the next run's is warm while the worker idles.
    /// </summary>
    public void Warm()
    {
        if (!passedCheck || Disabled || Unavailable is not null || disposed || options.Value.Workers == 0)
            return;
        while (Interlocked.Increment(ref warmCount) <= options.Value.WarmSandboxes)
        {
            int? uid = null;
            if (Euid == 0)
            {
                if (!freeUids.TryDequeue(out var leased))
                    break;
                uid = leased;
            }
            _ = Task.Run(() =>
            {
                try
                {
                    warmStubs.Enqueue(Stub.Start(uid, "pasta"));
                    if (disposed) Drain();
                }
                catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
                {
                    if (uid is { } u) Release(u);
                    Interlocked.Decrement(ref warmCount);
                }
            });
        }
        Interlocked.Decrement(ref warmCount);
    }

    /// <summary>A warm stub that is alive and has this host's current routes, or null.</summary>
    Stub? TakeWarm()
    {
        while (warmStubs.TryDequeue(out var stub))
        {
            Interlocked.Decrement(ref warmCount);
            if (!stub.Process.HasExited && stub.RouteScript == Stub.Routes())
                return stub;
            Discard(stub);
        }
        return null;
    }

    void Discard(Stub stub)
    {
        stub.Dispose();
        if (stub.Uid is { } uid) Release(uid);
    }

    void Drain()
    {
        while (warmStubs.TryDequeue(out var stub))
            Discard(stub);
    }

    /// <summary>Kills the warm stubs (the host stops).</summary>
    public void Dispose()
    {
        disposed = true;
        Drain();
    }
}
