using Microsoft.AspNetCore.Mvc;

namespace BuildGrid.Gateway.Console.Pages;

public sealed class SignOutModel(ConsoleSession session) : ConsolePage(session)
{
    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync()
    {
        await Session.SignOutAsync(HttpContext.RequestAborted);
        return LocalRedirect(ConsoleExtensions.PathBase + "/signin");
    }
}
