namespace BuildGrid.Gateway.Dialects.ImageMarket;

internal static class ImageMarketExtensions
{
    public static WebApplication MapImageMarket(this WebApplication app)
    {
        app.UseDialectErrors<ImageMarketErrors>();
        app.MapGrpcService<ImageMarketService>();
        return app;
    }
}
