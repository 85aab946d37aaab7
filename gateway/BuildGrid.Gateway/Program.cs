using BuildGrid.Gateway;

await BuildGridHost.Create(args).RunAsync();
