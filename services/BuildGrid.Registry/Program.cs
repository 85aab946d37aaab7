using BuildGrid.Core.Hosting;
using BuildGrid.Registry;

var builder = WebApplication.CreateBuilder(args);
builder.AddBuildGridDefaults();
builder.AddRegistry();
var app = builder.Build();
app.MapBuildGridDefaults();
app.MapRegistry();
app.Run();
