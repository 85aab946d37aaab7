namespace BuildGrid.Gateway.Dialects.ImageMarket;

internal static class ImageMarketExtensions
{
    /// <summary>The table every image-market call's failures go through (<see cref="ImageMarketAnswers"/>).</summary>
    public static IServiceCollection AddImageMarket(this IServiceCollection services)
    {
        services.AddGrpc().AddServiceOptions<ImageMarketService>(o => o.Interceptors.Add<ImageMarketAnswers>());
        return services;
    }

    public static WebApplication MapImageMarket(this WebApplication app)
    {
        app.UseDialectErrors<ImageMarketErrors>();
        app.MapGrpcService<ImageMarketService>();
        return app;
    }
}
