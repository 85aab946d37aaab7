using System.Text.RegularExpressions;
using BuildGrid.Core.Errors;
using CoreRole = BuildGrid.Core.Identity.Role;
using ProtoRole = BuildGrid.Identity.V1.Role;

namespace BuildGrid.Identity.Domain;

/// <summary>What names, passwords and roles may be.</summary>
public static partial class IdentityRules
{
    public const string AdminUser = "admin";
    public const int MinPasswordLength = 8;
    public const int MaxPasswordLength = 256;

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}$")]
    private static partial Regex UserName();

    [GeneratedRegex("^[a-z][a-z0-9_]{0,63}$")]
    private static partial Regex RobotName();

    // An image-market cluster name (Projects' grammar, case aside): letters, digits and separators, never '+' or '/'.
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex NamespaceName();

    public static void ValidateUser(string name, string field = "name")
    {
        if (string.IsNullOrEmpty(name))
            throw Errors.Invalid(Reasons.InvalidArgument, field, $"{field} is required");
        if (!UserName().IsMatch(name))
            throw Errors.Invalid(Reasons.InvalidName, field,
                $"{field} '{Trim(name)}' must be 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit");
    }

    public static void ValidateRobot(string name, string field = "name")
    {
        if (string.IsNullOrEmpty(name))
            throw Errors.Invalid(Reasons.InvalidArgument, field, $"{field} is required");
        if (!RobotName().IsMatch(name))
            throw Errors.Invalid(Reasons.InvalidName, field,
                $"{field} '{Trim(name)}' must be 1-64 lower-case letters, digits or '_', starting with a letter");
    }

    public static void ValidateNamespace(string name, string field = "namespace")
    {
        if (string.IsNullOrEmpty(name))
            throw Errors.Invalid(Reasons.InvalidArgument, field, $"{field} is required");
        if (!NamespaceName().IsMatch(name))
            throw Errors.Invalid(Reasons.InvalidName, field, $"{field} '{Trim(name)}' must be 1-64 letters, digits, '.', '_' or '-'");
    }

    public static void ValidatePassword(string password, string field = "password")
    {
        if (password.Length < MinPasswordLength)
            throw Errors.Invalid(Reasons.InvalidArgument, field, $"{field} must have at least {MinPasswordLength} characters");
        if (password.Length > MaxPasswordLength)
            throw Errors.Invalid(Reasons.InvalidArgument, field, $"{field} must have at most {MaxPasswordLength} characters");
    }

    /// <summary>A robot's account name.</summary>
    public static string RobotAccount(string @namespace, string name) => $"{@namespace}+{name}";

    /// <summary>Splits "&lt;namespace&gt;+&lt;name&gt;"; false for a user name.</summary>
    public static bool TrySplitRobot(string account, out string @namespace, out string name)
    {
        var plus = account.IndexOf('+');
        (@namespace, name) = plus > 0 && plus < account.Length - 1 ? (account[..plus], account[(plus + 1)..]) : ("", "");
        return plus > 0 && plus < account.Length - 1;
    }

    public static CoreRole ToCore(ProtoRole role) => role switch
    {
        ProtoRole.Guest => CoreRole.Guest,
        ProtoRole.Developer => CoreRole.Developer,
        ProtoRole.Owner => CoreRole.Owner,
        _ => CoreRole.None,
    };

    public static ProtoRole ToProto(CoreRole role) => role switch
    {
        CoreRole.Guest => ProtoRole.Guest,
        CoreRole.Developer => ProtoRole.Developer,
        CoreRole.Owner => ProtoRole.Owner,
        _ => ProtoRole.Unspecified,
    };

    static string Trim(string value) => value.Length > 80 ? value[..80] + "…" : value;
}
