namespace BuildGrid.Core.Identity;

/// <summary>
/// Turns an <c>Authorization</c> header value (<c>Basic …</c> or <c>Bearer …</c>) into a principal. The Identity
/// service implements it (users, API tokens, robot accounts); every other process asks it through its client.
/// </summary>
public interface ICredentialValidator
{
    /// <summary>The principal, or null when the credentials are wrong, expired, revoked or not understood.</summary>
    ValueTask<Principal?> ValidateAsync(string authorization, CancellationToken cancellationToken);
}
