using BuildGrid.Core.Hosting;
using BuildGrid.Projects;

var builder = BuildGridDefaults.CreateBuilder(args);
builder.AddBuildGridDefaults();
builder.AddProjects();
var app = builder.Build();
app.MapBuildGridDefaults();
app.MapProjects();
app.Run();
