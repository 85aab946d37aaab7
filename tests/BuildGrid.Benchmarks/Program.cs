using BuildGrid.Benchmarks;

// dotnet run -c Release --project tests/BuildGrid.Benchmarks -- <scenario> [--seconds N] [--concurrency N]
// Every figure is a ratio against a baseline measured in the same run, on this machine.
var scenario = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "projects";
int Option(string name, int fallback) =>
    Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out var v) ? v : fallback;
var seconds = Option("--seconds", 10);
var concurrency = Option("--concurrency", 32);

switch (scenario)
{
    case "projects":
        await ProjectsBenchmark.RunAsync(seconds, concurrency);
        break;
    default:
        Console.Error.WriteLine($"unknown scenario '{scenario}'; scenarios: projects");
        return 2;
}
return 0;
