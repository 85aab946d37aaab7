namespace BuildGrid.Gateway.Console;

/// <summary>Previous/next links of a paged list (numbered pages; the link builder keeps the list's filter).</summary>
public sealed record Pager(int Page, int Pages, Func<int, string> Link)
{
    public static readonly Pager None = new(1, 1, _ => "");
}
