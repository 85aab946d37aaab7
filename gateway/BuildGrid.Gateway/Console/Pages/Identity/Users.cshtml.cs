using BuildGrid.Identity.V1;
using Microsoft.AspNetCore.Mvc;
using IdentityClient = BuildGrid.Identity.V1.Identity.IdentityClient;

namespace BuildGrid.Gateway.Console.Pages.Identity;

/// <summary>Users and their roles (the Identity service answers only admins).</summary>
public sealed class UsersModel(ConsoleSession session, IdentityClient identity) : ConsolePage(session)
{
    [BindProperty(Name = "after", SupportsGet = true)] public string? After { get; set; }
    [BindProperty] public string NewName { get; set; } = "";
    [BindProperty] public string NewEmail { get; set; } = "";
    [BindProperty] public string NewPassword { get; set; } = "";
    [BindProperty] public bool NewAdmin { get; set; }
    [BindProperty] public string GrantNamespace { get; set; } = "";
    [BindProperty] public Role GrantRole { get; set; } = Role.Guest;
    [BindProperty] public string Principal { get; set; } = "";
    [BindProperty] public bool Disable { get; set; }

    public IReadOnlyList<User> Users { get; private set; } = [];
    public string Next { get; private set; } = "";

    public async Task OnGetAsync()
    {
        var answer = await identity.ListUsersAsync(new ListUsersRequest { PageSize = 100, PageToken = After ?? "", IncludeDisabled = true }, Session.Options());
        Users = answer.Users;
        Next = answer.NextPageToken;
    }

    public async Task<IActionResult> OnPostAsync()
    {
        var created = await TryAsync(async () =>
        {
            await identity.CreateUserAsync(new CreateUserRequest { Name = NewName.Trim(), Email = NewEmail.Trim(), Password = NewPassword, Admin = NewAdmin },
                Session.Options());
            if (GrantNamespace.Trim() is { Length: > 0 } ns)
                await identity.GrantRoleAsync(new GrantRoleRequest { Namespace = ns, Principal = NewName.Trim(), Role = GrantRole }, Session.Options());
        });
        if (created)
        {
            Notice = $"User {NewName.Trim()} created.";
            return LocalRedirect("/console/users");
        }
        await OnGetAsync();
        return Page();
    }

    /// <summary>Grants a role, or changes the one the user holds in that namespace.</summary>
    public Task<IActionResult> OnPostGrantAsync() => WriteAsync(
        () => identity.GrantRoleAsync(new GrantRoleRequest { Namespace = GrantNamespace.Trim(), Principal = Principal, Role = GrantRole }, Session.Options()).ResponseAsync,
        $"{Principal} is {Format.Role(GrantRole)} in {GrantNamespace.Trim()}.", Back, OnGetAsync);

    public Task<IActionResult> OnPostRevokeAsync() => WriteAsync(
        () => identity.RevokeRoleAsync(new RevokeRoleRequest { Namespace = GrantNamespace.Trim(), Principal = Principal }, Session.Options()).ResponseAsync,
        $"{Principal} has no role in {GrantNamespace.Trim()} any more.", Back, OnGetAsync);

    public Task<IActionResult> OnPostDisableAsync() => WriteAsync(
        () => identity.UpdateUserAsync(new UpdateUserRequest { Name = Principal, Disabled = Disable }, Session.Options()).ResponseAsync,
        Disable ? $"{Principal} is disabled: its sign-ins and tokens stop working." : $"{Principal} is enabled.", Back, OnGetAsync);

    const string Back = "/console/users";
}
