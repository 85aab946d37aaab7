using BuildGrid.Containers;
using BuildGrid.Core.Hosting;

var builder = BuildGridDefaults.CreateBuilder(args);
builder.AddBuildGridDefaults();
builder.AddContainers();
var app = builder.Build();
app.MapBuildGridDefaults();
app.MapContainers();
app.Run();
