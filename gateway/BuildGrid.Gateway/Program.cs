using BuildGrid.Core.Hosting;
using BuildGrid.Gateway;

// The gateway of distributed mode. --help prints the settings; a start that fails for a setting or a port in use prints
// one line and exits 2.
return await BuildGridProcess.RunAsync(args, arguments => GatewayHost.Create(arguments));
