namespace BuildGrid.Core.Identity;

/// <summary>
/// Turns an <c>Authorization</c> header value (<c>Basic …</c> or <c>Bearer …</c>) into a principal. The Identity
/// service implements it (users, API tokens, robot accounts); every other process asks it through its client.
/// </summary>
public interface ICredentialValidator
{
    /// <summary>
    /// The principal, or null when the credentials are wrong, expired, revoked or not understood. <paramref name="clientAddress"/>
    /// is the address of the client that presented them (failed logins count per account and address); null when unknown.
    /// </summary>
    ValueTask<Principal?> ValidateAsync(string authorization, string? clientAddress, CancellationToken cancellationToken);

    /// <summary>
    /// The current state of a principal that authenticated earlier (a registry token's): its roles now, or null when its
    /// user, token or robot is gone, disabled or revoked. At most a few seconds old.
    /// </summary>
    ValueTask<Principal?> RecheckAsync(Principal principal, CancellationToken cancellationToken) => ValueTask.FromResult<Principal?>(principal);
}
