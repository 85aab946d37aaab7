using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using BuildGrid.Core.Identity;
using Microsoft.Extensions.Logging;

namespace BuildGrid.Core.Hosting;

/// <summary>
/// Messages that BuildGrid processes pass through Redis and act upon — a build's cancel request, an integration event
/// on the Redis bus — sealed with an HMAC-SHA256 under a key derived from the installation's service key, so that
/// whoever can write to Redis (a leaked password, a neighbour on a shared Redis) cannot forge them. A sealed message is
/// <c>&lt;43 characters of base64url MAC&gt;.&lt;payload&gt;</c>; the MAC covers a purpose (the channel or topic) and the
/// payload, so a message sealed for one purpose is refused for another. What fails the check is logged and ignored.
/// </summary>
public sealed class SignedMessages(IdentitySettings identity, ILogger<SignedMessages> logger)
{
    const int MacLength = 43;
    readonly byte[] key = HMACSHA256.HashData(identity.ServiceKey, "buildgrid redis messages"u8);

    public byte[] Seal(string purpose, ReadOnlySpan<byte> payload)
    {
        var sealedMessage = new byte[MacLength + 1 + payload.Length];
        Base64Url.EncodeToUtf8(Mac(purpose, payload), sealedMessage);
        sealedMessage[MacLength] = (byte)'.';
        payload.CopyTo(sealedMessage.AsSpan(MacLength + 1));
        return sealedMessage;
    }

    public byte[] Seal(string purpose, string payload) => Seal(purpose, Encoding.UTF8.GetBytes(payload));

    /// <summary>The payload of a message sealed for <paramref name="purpose"/> with this installation's key; null (and logged) otherwise.</summary>
    public ReadOnlyMemory<byte>? Open(string purpose, ReadOnlyMemory<byte> message)
    {
        var span = message.Span;
        if (span.Length > MacLength && span[MacLength] == (byte)'.')
        {
            Span<byte> given = stackalloc byte[32];
            if (Base64Url.DecodeFromUtf8(span[..MacLength], given, out var read, out var written) == System.Buffers.OperationStatus.Done
                && read == MacLength && written == 32
                && CryptographicOperations.FixedTimeEquals(given, Mac(purpose, span[(MacLength + 1)..])))
                return message[(MacLength + 1)..];
        }
        Log.UnsignedMessageIgnored(logger, purpose);
        return null;
    }

    byte[] Mac(string purpose, ReadOnlySpan<byte> payload)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(Encoding.UTF8.GetBytes(purpose));
        hmac.AppendData([0]);
        hmac.AppendData(payload);
        return hmac.GetHashAndReset();
    }
}
