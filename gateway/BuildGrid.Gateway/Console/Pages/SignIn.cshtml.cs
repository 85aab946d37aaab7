using Grpc.Core;
using Microsoft.AspNetCore.Mvc;

namespace BuildGrid.Gateway.Console.Pages;

public sealed class SignInModel(ConsoleSession session) : ConsolePage(session)
{
    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    [BindProperty(Name = "expired", SupportsGet = true)]
    public bool Expired { get; set; }

    [BindProperty]
    public string UserName { get; set; } = "";

    [BindProperty]
    public string Password { get; set; } = "";

    [BindProperty]
    public string Token { get; set; } = "";

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync()
    {
        if (Token.Trim().Length == 0 && (UserName.Trim().Length == 0 || Password.Length == 0))
        {
            ModelState.AddModelError("", "Enter a user name and password, or a token.");
            return Page();
        }
        try
        {
            await Session.SignInAsync(UserName, Password, Token, HttpContext.RequestAborted);
        }
        catch (RpcException e) when (e.StatusCode is Grpc.Core.StatusCode.Unauthenticated or Grpc.Core.StatusCode.PermissionDenied)
        {
            ModelState.AddModelError("", "The user name and password, or the token, are wrong, expired or revoked.");
            return Page();
        }
        catch (RpcException e)
        {
            ModelState.AddModelError("", ConsoleProblemFilter.Describe(e));
            return Page();
        }
        return LocalRedirect(Back());
    }

    public async Task<IActionResult> OnPostLocalAsync()
    {
        await Session.SignInLocalAsync(HttpContext.RequestAborted);
        return LocalRedirect(Back());
    }

    /// <summary>Only a path of the console itself: never another site.</summary>
    string Back() =>
        ReturnUrl is { Length: > 1 } url && url.StartsWith(ConsoleExtensions.PathBase + "/", StringComparison.Ordinal) && !url.StartsWith("//", StringComparison.Ordinal)
            && Url.IsLocalUrl(url) ? url : ConsoleExtensions.PathBase + "/";
}
