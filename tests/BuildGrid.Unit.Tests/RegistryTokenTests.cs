using BuildGrid.Core.Identity;
using Microsoft.Extensions.Time.Testing;

namespace BuildGrid.Unit.Tests;

/// <summary>Registry bearer tokens (<c>/v2/token</c>): what one grants, and when it stops working.</summary>
public sealed class RegistryTokenTests
{
    static readonly IdentitySettings Settings = new() { ServiceKey = "unit-test-service-key"u8.ToArray() };
    static readonly Principal Dev = new("dev1", PrincipalKind.User, false, new Dictionary<string, Role> { ["team-a"] = Role.Developer });
    static readonly IReadOnlyList<RegistryAccess> Push = [RegistryAccess.ParseScope("repository:team-a/web:pull,push")!];

    [Fact]
    public async Task A_token_grants_exactly_its_scope_to_its_principal()
    {
        var tokens = new RegistryTokens(Settings, new FakeTimeProvider(DateTimeOffset.UtcNow));
        var grant = await tokens.VerifyAsync(tokens.Issue(Dev, Push).Token);
        Assert.NotNull(grant);
        Assert.Equal("dev1", grant.Principal.Name);
        Assert.Equal(Role.Developer, grant.Principal.Roles["team-a"]);
        Assert.True(grant.Allows("repository", "team-a/web", "push"));
        Assert.False(grant.Allows("repository", "team-a/other", "pull"));
        Assert.False(grant.Allows("repository", "team-a/web", "delete"));
    }

    [Fact]
    public async Task A_token_stops_working_after_its_lifetime_and_its_skew()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var tokens = new RegistryTokens(Settings, clock);
        var token = tokens.Issue(Dev, Push).Token;
        clock.Advance(RegistryTokens.Lifetime + TimeSpan.FromSeconds(29));
        Assert.NotNull(await tokens.VerifyAsync(token));
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Null(await tokens.VerifyAsync(token));
    }

    [Fact]
    public async Task A_token_of_another_installation_or_tampered_with_is_refused()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var token = new RegistryTokens(Settings, clock).Issue(Dev, Push).Token;
        var other = new RegistryTokens(new IdentitySettings { ServiceKey = "another-installation"u8.ToArray() }, clock);
        Assert.Null(await other.VerifyAsync(token));
        var parts = token.Split('.');
        var tampered = parts[0] + "." + parts[1][..^2] + (parts[1][^2] == 'A' ? "B" : "A") + parts[1][^1] + "." + parts[2];
        Assert.Null(await new RegistryTokens(Settings, clock).VerifyAsync(tampered));
        Assert.Null(await new RegistryTokens(Settings, clock).VerifyAsync("not-a-token"));
    }

    [Theory]
    [InlineData("repository:team-a/web:pull", "repository", "team-a/web", "pull")]
    [InlineData("repository:host:5000/a/b:pull,push", "repository", "host:5000/a/b", "pull,push")]
    public void Scopes_parse_into_type_name_and_actions(string scope, string type, string name, string actions)
    {
        var access = RegistryAccess.ParseScope(scope);
        Assert.NotNull(access);
        Assert.Equal((type, name, actions), (access.Type, access.Name, string.Join(',', access.Actions)));
    }
}
