using BuildGrid.Benchmarks;

return args.FirstOrDefault() switch
{
    "containers" => await ContainersBenchmark.RunAsync(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: dotnet run -c Release --project tests/BuildGrid.Benchmarks -- containers [--projects=10000] [--seconds=5] [--concurrency=4]");
    return 2;
}
