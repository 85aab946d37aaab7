using BuildGrid.Core.Events;
using BuildGrid.Core.Identity;
using BuildGrid.Core.Storage;
using BuildGrid.Events.V1;
using BuildGrid.Identity.Domain;
using BuildGrid.Identity.Grpc;
using BuildGrid.Identity.Storage;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace BuildGrid.Identity;

public static class IdentityExtensions
{
    public const string AppId = IdentityCredentialValidator.AppId;

    /// <summary>The full name of Authenticate, which callers without credentials may call.</summary>
    public const string AuthenticateMethod = "/buildgrid.identity.v1.Identity/Authenticate";

    sealed class Marker;

    /// <summary>
    /// The Identity service: its database (identity.db), the bootstrap admin, the failed-login throttle, the daily robot
    /// expiry warning, and — for every call this process serves — credentials judged by it.
    /// </summary>
    public static WebApplicationBuilder AddIdentity(this WebApplicationBuilder builder)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(Marker)))
            return builder;
        builder.Services.AddSingleton<Marker>();
        builder.Services.AddOptions<IdentityOptions>().BindConfiguration("Identity").ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<IdentityOptions>, IdentityOptionsValidator>();
        builder.Services.AddServiceDatabase(AppId, typeof(IdentityExtensions).Assembly);
        builder.Services.AddSingleton<IdentityStore>();
        builder.Services.AddSingleton<AuditStore>();
        // PBKDF2 (HMAC-SHA512, 100,000 iterations, per-password salt): ASP.NET Core Identity's vetted format.
        builder.Services.AddSingleton(new PasswordHasher<UserRow>());
        builder.Services.AddSingleton<LoginThrottle>();
        builder.Services.AddSingleton<PasswordChecks>();
        builder.Services.AddSingleton<Authenticator>();
        builder.Services.AddHostedService<AdminBootstrap>();
        builder.Services.AddHostedService<RobotExpiryWatch>();
        // The credentials are the request: Authenticate must be callable without them (and so never validates through itself).
        builder.Services.Configure<AnonymousAccessOptions>(o => o.Methods.Add(AuthenticateMethod));
        IdentityCredentialValidator.Use(builder.Services);
        return builder;
    }

    public static WebApplication MapIdentity(this WebApplication app)
    {
        if (app.Services.GetService<Marker>() is null)
            throw new InvalidOperationException("Call builder.AddIdentity() before app.MapIdentity().");
        app.MapGrpcService<IdentityService>();
        // The audit log: every service's AuditRecorded, stored once.
        var audit = app.Services.GetRequiredService<AuditStore>();
        app.MapEventSubscription<AuditRecorded>((entry, cloudEvent, cancellationToken) => audit.RecordAsync(cloudEvent, entry, cancellationToken));
        return app;
    }
}
