using BuildGrid.Core.Hosting;
using BuildGrid.Standalone;

// Standalone BuildGrid. --help prints the settings; a start that fails for a setting or a port in use prints one line
// and exits 2.
return await BuildGridProcess.RunAsync(args, arguments => BuildGridHost.Create(arguments));
