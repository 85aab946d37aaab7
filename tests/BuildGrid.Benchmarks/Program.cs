using BuildGrid.Benchmarks;

// dotnet build -c Release && dotnet run -c Release --no-build --project tests/BuildGrid.Benchmarks -- <scenario> [options]
//   projects   [--seconds N] [--concurrency N]                REST info vs direct gRPC; cold start; idle memory
//   builds     [--operations N] [--latency] [--idle-ms N]   queue vs raw LPUSH+LMOVE (redis-server, Garnet); enqueue->start latency
//                                     (back to back, and N ms, default 500, after the worker's last run); 500 runs, 2 workers
//   images     [--rounds N]   a 3-step plugin project: BuildGrid vs bare buildah bud+push, cached rebuild; pull through a cache vs direct
//   registry   [--sizes 1,64,512]    blob push/pull (1, 64, 512 MB; 8 clients) and manifest GET vs docker-registry; memory over 1 GB
//   distributed [--seconds N] [--clients N]  the multi-process layout under N concurrent REST clients (req/s, p99, errors)
//   faults     [--builds N] [--pushes N]  kill -9 of each process kind in turn (and a Redis restart) during N builds and N pushes:
//                                     runs lost/overlapping, corrupt blobs, events missing/twice, recovery time, builds/min vs no fault
//   sandbox    [--runs N]       trivial-script run start->finish: local sandbox (default network, network none) vs Builds:Sandbox=none
//   containers [--projects=10000] [--seconds=5] [--concurrency=4]   svacer list/add via REST vs direct gRPC
//   signing    [--seconds N] [--concurrency N]   loopback gRPC call with a per-call service identity token vs without; Sign/Verify cost
//   inprocess  [--seconds N] [--concurrency N]   the standalone host's own client: in-process invoker vs loopback h2c, same GetProject
//   console    [--requests N]   console pages (1,000 projects, 10,000 tags) vs the REST reads of the same data: p50/p95, size
//   database   --postgres '<Npgsql string>' [--seconds N] [--concurrency N] [--runs N]   REST info, /api/project/new and N
//                                     trivial runs on PostgreSQL (a fresh database of that server) vs SQLite
// Every figure is a ratio against a baseline measured in the same run, on this machine.
var scenario = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "projects";
int Option(string name, int fallback) =>
    Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out var v) ? v : fallback;

switch (scenario)
{
    case "projects":
        await ProjectsBenchmark.RunAsync(Option("--seconds", 10), Option("--concurrency", 32));
        return 0;
    case "builds":
        await BuildsBenchmark.RunAsync(Option("--operations", 20000), args.Contains("--latency"), Option("--idle-ms", 500));
        return 0;
    case "images":
        await ImagesBenchmark.RunAsync(Option("--rounds", 3));
        return 0;
    case "registry":
        await RegistryBenchmark.RunAsync(Array.IndexOf(args, "--sizes") is var s and >= 0 && s + 1 < args.Length
            ? args[s + 1].Split(',').Select(long.Parse).ToArray() : [1, 64, 512]);
        return 0;
    case "distributed":
        await DistributedBenchmark.RunAsync(Option("--seconds", 60), Option("--clients", 200));
        return 0;
    case "faults":
        return await FaultsBenchmark.RunAsync(Option("--builds", 50), Option("--pushes", 20));
    case "sandbox":
        await SandboxBenchmark.RunAsync(Option("--runs", 100));
        return 0;
    case "containers":
        return await ContainersBenchmark.RunAsync(args.Where(a => a != "containers").ToArray());
    case "signing":
        await SigningBenchmark.RunAsync(Option("--seconds", 10), Option("--concurrency", 8));
        return 0;
    case "inprocess":
        await InProcessBenchmark.RunAsync(Option("--seconds", 10), Option("--concurrency", 8));
        return 0;
    case "console":
        await ConsoleBenchmark.RunAsync(Option("--requests", 200));
        return 0;
    case "database":
        return await DatabaseBenchmark.RunAsync(Array.IndexOf(args, "--postgres") is var p and >= 0 && p + 1 < args.Length ? args[p + 1] : null,
            Option("--seconds", 10), Option("--concurrency", 16), Option("--runs", 500));
    default:
        Console.Error.WriteLine($"unknown scenario '{scenario}'; scenarios: projects, builds, images, registry, distributed, faults, sandbox, containers, signing, inprocess, console, database");
        return 2;
}
