using BuildGrid.Registry.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Mvc;
using RegistryClient = BuildGrid.Registry.V1.Registry.RegistryClient;

namespace BuildGrid.Gateway.Console.Pages.Registry;

/// <summary>A repository's notifications (Quay's): list with the last failure, create, test, reset, delete.</summary>
public sealed class NotificationsModel(ConsoleSession session, RegistryClient registry) : ConsolePage(session)
{
    [BindProperty(Name = "name", SupportsGet = true)] public string Name { get; set; } = "";
    [BindProperty] public string Uuid { get; set; } = "";
    [BindProperty] public string Title { get; set; } = "";
    [BindProperty] public string Event { get; set; } = "repo_push";
    [BindProperty] public string Method { get; set; } = "webhook";
    [BindProperty] public string TargetUrl { get; set; } = "";

    public IReadOnlyList<Notification> Notifications { get; private set; } = [];

    public async Task OnGetAsync() =>
        Notifications = (await registry.ListNotificationsAsync(new ListNotificationsRequest { Repository = Name }, Session.Options())).Notifications;

    public Task<IActionResult> OnPostCreateAsync()
    {
        var request = new CreateNotificationRequest
        {
            Repository = Name, Event = Event, Method = Method,
            Config = new Struct { Fields = { ["url"] = Value.ForString(TargetUrl.Trim()) } },
            EventConfig = new Struct(),
        };
        if (Title.Trim() is { Length: > 0 } title)
            request.Title = title;
        return WriteAsync(() => registry.CreateNotificationAsync(request, Session.Options()).ResponseAsync, "Notification created.");
    }

    public Task<IActionResult> OnPostTestAsync() =>
        WriteAsync(() => registry.TestNotificationAsync(Ref(), Session.Options()).ResponseAsync, "Test notification queued.");

    public Task<IActionResult> OnPostResetAsync() =>
        WriteAsync(() => registry.ResetNotificationAsync(Ref(), Session.Options()).ResponseAsync, "Notification reset: failures cleared and enabled again.");

    public Task<IActionResult> OnPostDeleteAsync() =>
        WriteAsync(() => registry.DeleteNotificationAsync(Ref(), Session.Options()).ResponseAsync, "Notification deleted.");

    NotificationRef Ref() => new() { Repository = Name, Uuid = Uuid };

    async Task<IActionResult> WriteAsync(Func<Task> write, string notice)
    {
        if (await TryAsync(write))
        {
            Notice = notice;
            return LocalRedirect($"/console/registry/notifications?name={Uri.EscapeDataString(Name)}");
        }
        await OnGetAsync();
        return Page();
    }
}
