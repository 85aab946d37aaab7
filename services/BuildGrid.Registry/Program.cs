using BuildGrid.Core.Hosting;
using BuildGrid.Registry;

var builder = BuildGridDefaults.CreateBuilder(args);
builder.AddBuildGridDefaults();
builder.AddRegistry();
var app = builder.Build();
app.MapBuildGridDefaults();
app.MapRegistry();
app.Run();
