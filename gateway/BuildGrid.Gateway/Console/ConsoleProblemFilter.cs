using BuildGrid.Core.Errors;
using Grpc.Core;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace BuildGrid.Gateway.Console;

/// <summary>
/// Turns a service's refusal into words on the page it happened on: the status becomes the page's HTTP status, the
/// message is shown in place of the page's content (<see cref="ConsolePage.Problem"/>). An expired or revoked
/// credential ends the session and leads back to sign-in.
/// </summary>
internal sealed class ConsoleProblemFilter : IAsyncPageFilter
{
    public Task OnPageHandlerSelectionAsync(PageHandlerSelectedContext context) => Task.CompletedTask;

    public async Task OnPageHandlerExecutionAsync(PageHandlerExecutingContext context, PageHandlerExecutionDelegate next)
    {
        var executed = await next();
        if (executed.Exception is not RpcException e || executed.HandlerInstance is not ConsolePage page)
            return;
        executed.ExceptionHandled = true;
        if (e.StatusCode == StatusCode.Unauthenticated && context.HttpContext.User.Identity?.IsAuthenticated == true)
        {
            await context.HttpContext.SignOutAsync(ConsoleExtensions.Scheme);
            var back = context.HttpContext.Request.Path + context.HttpContext.Request.QueryString;
            executed.Result = new RedirectResult(
                $"{ConsoleExtensions.PathBase}/signin?ReturnUrl={Uri.EscapeDataString(back)}&expired=1");
            return;
        }
        page.Problem = Describe(e);
        context.HttpContext.Response.StatusCode = e.StatusCode switch
        {
            StatusCode.NotFound => StatusCodes.Status404NotFound,
            StatusCode.PermissionDenied or StatusCode.Unauthenticated => StatusCodes.Status403Forbidden,
            StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.AlreadyExists or StatusCode.OutOfRange => StatusCodes.Status400BadRequest,
            StatusCode.ResourceExhausted => StatusCodes.Status429TooManyRequests,
            StatusCode.Unavailable => StatusCodes.Status503ServiceUnavailable,
            _ => StatusCodes.Status500InternalServerError,
        };
        executed.Result = new PageResult();
    }

    /// <summary>The service's message, with the kind of refusal in words.</summary>
    public static string Describe(RpcException e)
    {
        var what = e.StatusCode switch
        {
            StatusCode.NotFound => "Not found",
            StatusCode.PermissionDenied => "Not allowed",
            StatusCode.Unauthenticated => "Sign-in needed",
            StatusCode.InvalidArgument or StatusCode.OutOfRange => "Invalid input",
            StatusCode.AlreadyExists => "Already exists",
            StatusCode.FailedPrecondition => "Not possible now",
            StatusCode.ResourceExhausted => "Too many requests",
            StatusCode.Unavailable => "Service unavailable",
            StatusCode.DeadlineExceeded => "Timed out",
            _ => "Error",
        };
        var detail = e.Info()?.Reason is { Length: > 0 } reason ? $" ({reason})" : "";
        return $"{what}: {e.Status.Detail}{detail}";
    }
}

/// <summary>The base of every console page: the session, and the refusal to show instead of the content.</summary>
public abstract class ConsolePage(ConsoleSession session) : PageModel
{
    public ConsoleSession Session { get; } = session;

    /// <summary>A service's refusal in words; when set, the layout shows it instead of the page's content.</summary>
    public string? Problem { get; set; }

    /// <summary>A one-time notice after a write (shown at the top of the next page).</summary>
    [TempData]
    public string? Notice { get; set; }

    /// <summary>Runs a write; a refusal stays on the page as a message (the form keeps its values) instead of failing it.</summary>
    protected async Task<bool> TryAsync(Func<Task> write)
    {
        try
        {
            await write();
            return true;
        }
        catch (RpcException e) when (e.StatusCode != Grpc.Core.StatusCode.Unauthenticated)
        {
            ModelState.AddModelError("", ConsoleProblemFilter.Describe(e));
            return false;
        }
    }

    /// <summary>
    /// A form's write: done, it leaves <paramref name="notice"/> for the next page and redirects to <paramref name="back"/>;
    /// refused, the page is read again with <paramref name="reload"/> and shown with the refusal.
    /// </summary>
    protected async Task<IActionResult> WriteAsync(Func<Task> write, string notice, string back, Func<Task> reload)
    {
        if (await TryAsync(write))
        {
            Notice = notice;
            return LocalRedirect(back);
        }
        await reload();
        return Page();
    }
}
