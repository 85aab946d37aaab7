namespace BuildGrid.Core.Storage;

/// <summary>Text that goes into portable SQL.</summary>
public static class SqlText
{
    /// <summary>
    /// Escapes a LIKE pattern's wildcards for <c>ESCAPE '\'</c> (SQLite and SQL Server alike), so a filter matches
    /// literally. NUL characters are dropped, so that PostgreSQL can bind the pattern; a filter holding one matches
    /// nothing, which the stores say with <see cref="Like"/>.
    /// </summary>
    public static string EscapeLike(string value) => value.Replace("\0", "").Replace(@"\", @"\\").Replace("%", @"\%").Replace("_", @"\_");

    /// <summary><paramref name="condition"/>, or no row at all when <paramref name="filter"/> holds a NUL (no stored name does).</summary>
    public static string Like(string condition, string? filter) => filter is null || Storable(filter) ? condition : "1 = 0";

    /// <summary>
    /// A keyset position (<c>name &gt; @after</c>) that every provider can bind: PostgreSQL refuses text with a NUL
    /// character (22021), which SQLite stores. Names never hold one (each is validated before it is stored), so the
    /// position cut at its first NUL selects exactly the same names: none lies between "a" and "a\0...".
    /// </summary>
    public static string? KeysetAfter(string? after) => after is not null && after.IndexOf('\0') is var nul and >= 0 ? after[..nul] : after;

    /// <summary>Whether <paramref name="value"/> can equal a stored name or type: not when it holds a NUL, which PostgreSQL cannot even bind.</summary>
    public static bool Storable(string value) => !value.Contains('\0');

    /// <summary>
    /// The list of a <c>column IN ...</c>: <c>(@name0, @name1, ...)</c>, one parameter per value, added to
    /// <paramref name="parameters"/> (at least one value). Dapper expands <c>IN @list</c> itself for SQLite and SQL Server,
    /// but hands Npgsql the list as one array parameter (PostgreSQL then wants <c>= ANY(@list)</c>, and <c>IN $1</c> is a
    /// syntax error), so the stores spell their lists out the same way for every provider.
    /// </summary>
    public static string InList(Dapper.DynamicParameters parameters, string name, IEnumerable<string> values)
    {
        var names = new List<string>();
        foreach (var value in values)
        {
            var parameter = $"{name}{names.Count}";
            parameters.Add(parameter, value);
            names.Add("@" + parameter);
        }
        if (names.Count == 0)
            throw new ArgumentException("an IN list needs a value", nameof(values));
        return "(" + string.Join(", ", names) + ")";
    }
}
