namespace BuildGrid.Gateway.Console;

/// <summary>Previous/next links of a paged list (numbered pages; the link builder keeps the list's filter).</summary>
public sealed record Pager(int Page, int Pages, Func<int, string> Link)
{
    public static readonly Pager None = new(1, 1, _ => "");

    /// <summary>The pager of page <paramref name="page"/> of <paramref name="total"/> items, <paramref name="pageSize"/> a page.</summary>
    public static Pager Of(int page, long total, int pageSize, Func<int, string> link) =>
        new(page, (int)Math.Ceiling(total / (double)pageSize), link);

    /// <summary>A page number from the query: 1 and up.</summary>
    public static int Clamp(int page) => Math.Max(1, page);
}
