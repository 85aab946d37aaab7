using BuildGrid.Core.Hosting;
using BuildGrid.Projects;

// --help prints the settings; a start that fails for a setting or a port in use prints one line and exits 2.
return await BuildGridProcess.RunAsync(args, arguments =>
{
    var builder = BuildGridDefaults.CreateBuilder(arguments);
    builder.AddBuildGridDefaults();
    builder.AddProjects();
    var app = builder.Build();
    app.MapBuildGridDefaults();
    app.MapProjects();
    return app;
});
