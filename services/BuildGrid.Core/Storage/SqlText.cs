namespace BuildGrid.Core.Storage;

/// <summary>Text that goes into portable SQL.</summary>
public static class SqlText
{
    /// <summary>Escapes a LIKE pattern's wildcards for <c>ESCAPE '\'</c> (SQLite and SQL Server alike), so a filter matches literally.</summary>
    public static string EscapeLike(string value) => value.Replace(@"\", @"\\").Replace("%", @"\%").Replace("_", @"\_");
}
