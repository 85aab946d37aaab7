using BuildGrid.Core.Identity;
using BuildGrid.Core.Storage;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc.ApplicationModels;
using Microsoft.AspNetCore.Mvc.ApplicationParts;

namespace BuildGrid.Gateway.Console;

/// <summary>
/// The web console under <c>/console</c> (CONSOLE.md beside this file): Razor Pages compiled into the gateway, a
/// session cookie holding the signed-in caller's credential, antiforgery on every form, and the same typed gRPC
/// clients as the REST dialects. Served by the gateway in every run mode.
/// </summary>
public static class ConsoleExtensions
{
    public const string PathBase = "/console";
    internal const string Scheme = "BuildGrid.Console";
    /// <summary>The database of a gateway of its own: its Data Protection key ring (<c>gateway.db</c>, or schema <c>gateway</c>).</summary>
    public const string GatewayDatabase = "gateway";

    sealed class Marker;

    public static WebApplicationBuilder AddConsole(this WebApplicationBuilder builder)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(Marker)))
            return builder;
        builder.Services.AddSingleton<Marker>();
        var assembly = typeof(ConsoleExtensions).Assembly;
        builder.Services.AddRazorPages(o =>
            {
                o.RootDirectory = "/Console/Pages";
                o.Conventions.AuthorizeFolder("/", ConsoleSession.Policy);
                o.Conventions.AllowAnonymousToPage("/SignIn");
                o.Conventions.Add(new PathPrefix());
            })
            .AddMvcOptions(o =>
            {
                o.Filters.Add<ConsoleProblemFilter>();
                // A form field left empty is "", not null, and not an error: the services say what is missing, in words.
                o.SuppressImplicitRequiredAttributeForNonNullableReferenceTypes = true;
                o.ModelMetadataDetailsProviders.Add(new EmptyStringsStayEmpty());
            })
            .AddCookieTempDataProvider(o =>
            {
                o.Cookie.Name = "buildgrid.console.notice";
                o.Cookie.Path = PathBase;
                o.Cookie.SameSite = SameSiteMode.Strict;
                o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            })
            // Only the console's pages: a host that composes the gateway brings no controllers or pages of its own in.
            .ConfigureApplicationPartManager(m =>
            {
                m.ApplicationParts.Clear();
                foreach (var part in ApplicationPartFactory.GetApplicationPartFactory(assembly).GetApplicationParts(assembly))
                    m.ApplicationParts.Add(part);
            });
        // HTML-encode markup characters only, not every letter outside ASCII (names and messages stay readable, pages smaller).
        builder.Services.Configure<Microsoft.Extensions.WebEncoders.WebEncoderOptions>(o =>
            o.TextEncoderSettings = new System.Text.Encodings.Web.TextEncoderSettings(System.Text.Unicode.UnicodeRanges.All));
        builder.Services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "buildgrid.console.csrf";
            o.Cookie.Path = PathBase;
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.FormFieldName = "__csrf";
            o.SuppressXFrameOptionsHeader = true; // the console sends frame-ancestors 'none' itself
        });
        // The services' own key ring when they are hosted here (SqlKeyRing); a gateway of its own keeps one like it in
        // its own database, so that its replicas share it (session cookies and antiforgery tokens work on each of them).
        builder.Services.AddOwnDataProtection(GatewayDatabase, typeof(ConsoleExtensions).Assembly);
        builder.Services.AddAuthentication()
            .AddCookie(Scheme, o =>
            {
                o.Cookie.Name = "buildgrid.console";
                o.Cookie.Path = PathBase;
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Strict;
                o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                o.LoginPath = PathBase + "/signin";
                o.LogoutPath = PathBase + "/signout";
                o.AccessDeniedPath = PathBase + "/signin";
                o.ExpireTimeSpan = ConsoleSession.Lifetime;
                o.SlidingExpiration = false;
            });
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(ConsoleSession.Policy, p => p.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser());
        builder.Services.AddHttpContextAccessor();
        builder.Services.AddScoped<ConsoleSession>();
        builder.Services.AddSingleton<ConsoleAssets>();
        // After antiforgery and the cookie scheme, which add Data Protection's eager key ring read back.
        SqlKeyRing.ReadAtFirstUse(builder.Services);
        return builder;
    }

    public static WebApplication MapConsole(this WebApplication app)
    {
        if (app.Services.GetService<Marker>() is null)
            throw new InvalidOperationException("Call builder.AddConsole() before app.MapConsole().");
        app.UseWhen(c => c.Request.Path.StartsWithSegments(PathBase), console =>
        {
            console.Use((context, next) =>
            {
                ConsoleHeaders.Apply(context.Response);
                return next(context);
            });
            console.UseAuthentication();
            console.UseAuthorization();
        });
        app.MapGet("/", () => Results.Redirect(PathBase + "/")).ExcludeFromDescription();
        app.Services.GetRequiredService<ConsoleAssets>().Map(app, PathBase + "/assets");
        app.MapGet(PathBase + "/runs/{id}/log/stream", (HttpContext context, string id, ConsoleSession session) =>
                Rest.RunLogFollow.FollowAsync(context, id, session.Metadata()))
            .RequireAuthorization(ConsoleSession.Policy).ExcludeFromDescription();
        app.MapRazorPages();
        return app;
    }

    /// <summary>Every page under <c>/console</c>: <c>Pages/Index.cshtml</c> answers <c>/console/</c>.</summary>
    sealed class PathPrefix : IPageRouteModelConvention
    {
        public void Apply(PageRouteModel model)
        {
            foreach (var selector in model.Selectors)
                if (selector.AttributeRouteModel is { } route)
                    route.Template = AttributeRouteModel.CombineTemplates(PathBase.TrimStart('/'), route.Template);
        }
    }
}

/// <summary>Binds an empty form field to an empty string (MVC's default would be null, even for a non-nullable property).</summary>
internal sealed class EmptyStringsStayEmpty : Microsoft.AspNetCore.Mvc.ModelBinding.Metadata.IDisplayMetadataProvider
{
    public void CreateDisplayMetadata(Microsoft.AspNetCore.Mvc.ModelBinding.Metadata.DisplayMetadataProviderContext context) =>
        context.DisplayMetadata.ConvertEmptyStringToNull = false;
}

/// <summary>The console's response headers: a strict CSP (no inline script or style), no framing, no sniffing.</summary>
internal static class ConsoleHeaders
{
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    public static void Apply(HttpResponse response)
    {
        var headers = response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        // Not no-referrer: with it a browser sends "Origin: null" on the console's own form posts, which the gateway's
        // cross-origin guard (BrowserRequestGuard) then refuses.
        headers["Referrer-Policy"] = "same-origin";
        headers["Cross-Origin-Opener-Policy"] = "same-origin";
    }
}
