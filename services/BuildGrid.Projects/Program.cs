using BuildGrid.Core.Hosting;
using BuildGrid.Projects;

// --help prints the settings; a start that fails for a setting or a port in use prints one line and exits 2.
return await BuildGridProcess.RunServiceAsync(args, builder => builder.AddProjects(), app => app.MapProjects());
