using BuildGrid.Core.Hosting;
using BuildGrid.Identity;

var builder = BuildGridDefaults.CreateBuilder(args);
builder.AddBuildGridDefaults();
builder.AddIdentity();
var app = builder.Build();
app.MapBuildGridDefaults();
app.MapIdentity();
app.Run();
