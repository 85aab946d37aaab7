using BuildGrid.Identity.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Mvc;
using IdentityClient = BuildGrid.Identity.V1.Identity.IdentityClient;

namespace BuildGrid.Gateway.Console.Pages.Identity;

public sealed class IdentityModel(ConsoleSession session, IdentityClient identity) : ConsolePage(session)
{
    public sealed record ShownSecret(string Title, string Label, string Value);

    [BindProperty(Name = "ns", SupportsGet = true)] public string? Ns { get; set; }
    [BindProperty] public string TokenName { get; set; } = "";
    [BindProperty] public int TokenDays { get; set; } = 30;
    [BindProperty] public string TokenId { get; set; } = "";
    [BindProperty] public string RobotNamespace { get; set; } = "";
    [BindProperty] public string RobotName { get; set; } = "";
    [BindProperty] public string RobotDescription { get; set; } = "";

    public IReadOnlyList<Token> Tokens { get; private set; } = [];
    public string? TokensProblem { get; private set; }
    public IReadOnlyList<Robot> Robots { get; private set; } = [];

    /// <summary>A secret just made: rendered in this one answer (never stored, never redirected with).</summary>
    public ShownSecret? Secret { get; private set; }

    public async Task OnGetAsync()
    {
        try
        {
            Tokens = (await identity.ListTokensAsync(new ListTokensRequest(), Session.Options())).Tokens;
        }
        catch (Grpc.Core.RpcException e) when (e.StatusCode is not Grpc.Core.StatusCode.Unauthenticated)
        {
            // A robot or the protected-mode caller holds no tokens of its own.
            TokensProblem = ConsoleProblemFilter.Describe(e);
        }
        if (Ns is { Length: > 0 })
            Robots = (await identity.ListRobotsAsync(new ListRobotsRequest { Namespace = Ns.Trim() }, Session.Options())).Robots;
    }

    public async Task<IActionResult> OnPostCreateTokenAsync()
    {
        CreatedToken? created = null;
        await TryAsync(async () => created = await identity.CreateTokenAsync(new CreateTokenRequest
        {
            Name = TokenName.Trim(), ExpireTime = Timestamp.FromDateTimeOffset(Session.Now.AddDays(Math.Clamp(TokenDays, 1, 365))),
        }, Session.Options()));
        if (created is not null)
            Secret = new ShownSecret($"Token {created.Token.Name} created", "Token", created.Secret);
        return await ShowAsync();
    }

    public async Task<IActionResult> OnPostRevokeAsync()
    {
        if (await TryAsync(() => identity.RevokeTokenAsync(new RevokeTokenRequest { Id = TokenId }, Session.Options()).ResponseAsync))
        {
            Notice = "Token revoked.";
            return LocalRedirect("/console/identity");
        }
        return await ShowAsync();
    }

    public async Task<IActionResult> OnPostCreateRobotAsync()
    {
        CreatedRobot? created = null;
        await TryAsync(async () => created = await identity.CreateRobotAsync(new CreateRobotRequest
        {
            Namespace = RobotNamespace.Trim(), Name = RobotName.Trim(), Description = RobotDescription.Trim(),
        }, Session.Options()));
        Ns = RobotNamespace.Trim();
        if (created is not null)
            Secret = new ShownSecret($"Robot {created.Robot.FullName} created", $"Token of {created.Robot.FullName}", created.Token);
        return await ShowAsync();
    }

    public async Task<IActionResult> OnPostDeleteRobotAsync()
    {
        if (await TryAsync(() => identity.DeleteRobotAsync(new DeleteRobotRequest { Namespace = Ns ?? "", Name = RobotName }, Session.Options()).ResponseAsync))
        {
            Notice = $"Robot {Ns}+{RobotName} deleted.";
            return LocalRedirect($"/console/identity?ns={Uri.EscapeDataString(Ns ?? "")}");
        }
        return await ShowAsync();
    }

    async Task<IActionResult> ShowAsync()
    {
        Response.Headers.CacheControl = "no-store";
        await OnGetAsync();
        return Page();
    }
}
