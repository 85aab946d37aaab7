using BuildGrid.Builds;
using BuildGrid.Core.Hosting;

var builder = BuildGridDefaults.CreateBuilder(args);
builder.AddBuildGridDefaults();
builder.AddBuilds();
var app = builder.Build();
app.MapBuildGridDefaults();
app.MapBuilds();
app.Run();
