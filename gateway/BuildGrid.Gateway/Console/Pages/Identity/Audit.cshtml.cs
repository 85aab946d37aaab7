using BuildGrid.Identity.V1;
using Microsoft.AspNetCore.Mvc;
using IdentityClient = BuildGrid.Identity.V1.Identity.IdentityClient;

namespace BuildGrid.Gateway.Console.Pages.Identity;

/// <summary>The audit log, newest first: admins read all of it, a namespace's owners that namespace's entries.</summary>
public sealed class AuditModel(ConsoleSession session, IdentityClient identity) : ConsolePage(session)
{
    [BindProperty(Name = "ns", SupportsGet = true)] public string? Ns { get; set; }
    [BindProperty(Name = "principal", SupportsGet = true)] public string? Principal { get; set; }
    [BindProperty(Name = "after", SupportsGet = true)] public string? After { get; set; }

    public IReadOnlyList<AuditEntry> Entries { get; private set; } = [];
    public string Next { get; private set; } = "";

    public async Task OnGetAsync()
    {
        var answer = await identity.ListAuditEntriesAsync(new ListAuditEntriesRequest
        {
            Namespace = Ns?.Trim() ?? "", Principal = Principal?.Trim() ?? "", PageSize = 100, PageToken = After ?? "",
        }, Session.Options());
        Entries = answer.Entries;
        Next = answer.NextPageToken;
    }
}
