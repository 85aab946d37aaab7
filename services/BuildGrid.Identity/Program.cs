using BuildGrid.Core.Hosting;
using BuildGrid.Identity;

var builder = WebApplication.CreateBuilder(args);
builder.AddBuildGridDefaults();
builder.AddIdentity();
var app = builder.Build();
app.MapBuildGridDefaults();
app.MapIdentity();
app.Run();
