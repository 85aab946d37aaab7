using BuildGrid.Core.Identity;
using Microsoft.Extensions.Time.Testing;

namespace BuildGrid.Unit.Tests;

/// <summary>
/// Internal identity tokens (<c>x-buildgrid-identity</c>): a token opens the one method it was signed for, and only in its
/// lifetime, whether it is checked for the first time or again (a validated token is kept by its text, a signed one is
/// handed out again for a few seconds).
/// </summary>
public sealed class ServiceTokenTests
{
    static readonly IdentitySettings Settings = new() { ServiceKey = "unit-test-service-key"u8.ToArray() };
    static readonly Principal Dev = new("dev1", PrincipalKind.User, false, new Dictionary<string, Role> { ["team-a"] = Role.Developer });
    const string GetProject = "/buildgrid.projects.v1.Projects/GetProject";
    const string CreateProject = "/buildgrid.projects.v1.Projects/CreateProject";
    const string CreateUser = "/buildgrid.identity.v1.Identity/CreateUser";

    [Fact]
    public async Task A_token_opens_its_method_every_time_and_no_other_method_even_after_it_was_checked()
    {
        var tokens = new ServiceTokens(Settings, new FakeTimeProvider(DateTimeOffset.UtcNow));
        var token = tokens.Sign(Dev, GetProject, "10.1.2.3");
        for (var i = 0; i < 2; i++)
        {
            var identity = await tokens.VerifyAsync(token, GetProject);
            Assert.NotNull(identity);
            Assert.Equal("dev1", identity.Principal.Name);
            Assert.Equal(Role.Developer, identity.Principal.Roles["team-a"]);
            Assert.Equal("10.1.2.3", identity.ClientAddress);
            Assert.Null(await tokens.VerifyAsync(token, CreateProject));
            Assert.Null(await tokens.VerifyAsync(token, CreateUser));
        }
    }

    [Fact]
    public async Task A_checked_token_stops_working_after_its_lifetime_and_skew()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var tokens = new ServiceTokens(Settings, clock);
        var token = tokens.Sign(Dev, GetProject, null);
        Assert.NotNull(await tokens.VerifyAsync(token, GetProject));
        clock.Advance(ServiceTokens.Lifetime + TimeSpan.FromSeconds(4));
        Assert.NotNull(await tokens.VerifyAsync(token, GetProject));
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Null(await tokens.VerifyAsync(token, GetProject));
    }

    [Fact]
    public async Task A_read_class_token_opens_reads_of_its_service_only()
    {
        var tokens = new ServiceTokens(Settings, new FakeTimeProvider(DateTimeOffset.UtcNow));
        var read = tokens.SignClass(Dev, "projects", write: false, null);
        for (var i = 0; i < 2; i++)
        {
            Assert.NotNull(await tokens.VerifyAsync(read, GetProject));
            Assert.Null(await tokens.VerifyAsync(read, CreateProject));
            Assert.Null(await tokens.VerifyAsync(read, "/buildgrid.identity.v1.Identity/GetUser"));
        }
    }

    [Fact]
    public async Task A_signed_token_is_reused_for_the_same_call_for_a_quarter_of_its_life_and_never_for_another()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var tokens = new ServiceTokens(Settings, clock);
        var first = tokens.Sign(Dev, GetProject, "10.1.2.3");
        Assert.Equal(first, tokens.Sign(Dev, GetProject, "10.1.2.3"));
        Assert.NotEqual(first, tokens.Sign(Dev, GetProject, "10.9.9.9"));
        Assert.NotEqual(first, tokens.Sign(Dev, CreateProject, "10.1.2.3"));
        var admin = Dev with { IsAdmin = true };
        var asAdmin = tokens.Sign(admin, GetProject, "10.1.2.3");
        Assert.NotEqual(first, asAdmin);
        Assert.True((await tokens.VerifyAsync(asAdmin, GetProject))!.Principal.IsAdmin);
        Assert.False((await tokens.VerifyAsync(first, GetProject))!.Principal.IsAdmin);
        var owner = Dev with { Roles = new Dictionary<string, Role> { ["team-a"] = Role.Owner } };
        Assert.Equal(Role.Owner, (await tokens.VerifyAsync(tokens.Sign(owner, GetProject, "10.1.2.3"), GetProject))!.Principal.Roles["team-a"]);

        clock.Advance(ServiceTokens.Lifetime / 4);
        var later = tokens.Sign(Dev, GetProject, "10.1.2.3");
        Assert.NotEqual(first, later);
        clock.Advance(ServiceTokens.Lifetime - TimeSpan.FromSeconds(1));
        Assert.NotNull(await tokens.VerifyAsync(later, GetProject));
    }

    [Fact]
    public async Task A_token_of_another_installation_is_refused()
    {
        var other = new ServiceTokens(new IdentitySettings { ServiceKey = "another-key"u8.ToArray() }, TimeProvider.System);
        var tokens = new ServiceTokens(Settings, TimeProvider.System);
        Assert.Null(await tokens.VerifyAsync(other.Sign(Dev, GetProject, null), GetProject));
        var token = tokens.Sign(Dev, GetProject, null);
        Assert.Null(await tokens.VerifyAsync(token[..^2] + (token[^2] == 'A' ? "BB" : "AA"), GetProject));
    }
}
