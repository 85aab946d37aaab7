using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace BuildGrid.Core.Identity;

/// <summary>
/// The internal credential between BuildGrid processes: the caller's principal, signed with the installation's
/// service key (HMAC-SHA256) and valid for a few minutes, in the <c>x-buildgrid-identity</c> metadata entry. A service
/// trusts the identity of a call only when this signature checks out.
/// </summary>
public sealed partial class ServiceTokens(IdentitySettings settings, TimeProvider time)
{
    public const string Header = "x-buildgrid-identity";
    static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);

    public string Sign(Principal principal)
    {
        var payload = new Payload
        {
            Name = principal.Name, Kind = principal.Kind, Admin = principal.IsAdmin,
            Roles = principal.Roles.Count == 0 ? null : new Dictionary<string, Role>(principal.Roles),
            Expires = time.GetUtcNow().Add(Lifetime).ToUnixTimeSeconds(),
        };
        var body = JsonSerializer.SerializeToUtf8Bytes(payload, PayloadContext.Default.Payload);
        var signature = HMACSHA256.HashData(settings.ServiceKey, body);
        return $"{Base64Url.EncodeToString(body)}.{Base64Url.EncodeToString(signature)}";
    }

    /// <summary>The principal a token carries, or null when it is malformed, forged or expired.</summary>
    public Principal? Verify(string token)
    {
        var dot = token.IndexOf('.');
        if (dot <= 0 || token.Length > 16 * 1024)
            return null;
        try
        {
            var body = Base64Url.DecodeFromChars(token.AsSpan(0, dot));
            var signature = Base64Url.DecodeFromChars(token.AsSpan(dot + 1));
            if (!CryptographicOperations.FixedTimeEquals(HMACSHA256.HashData(settings.ServiceKey, body), signature))
                return null;
            var payload = JsonSerializer.Deserialize(body, PayloadContext.Default.Payload);
            if (payload is null || payload.Expires < time.GetUtcNow().ToUnixTimeSeconds() || string.IsNullOrEmpty(payload.Name))
                return null;
            return new Principal(payload.Name, payload.Kind, payload.Admin,
                payload.Roles ?? (IReadOnlyDictionary<string, Role>)new Dictionary<string, Role>());
        }
        catch (FormatException)
        {
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    internal sealed class Payload
    {
        [JsonPropertyName("n")] public string Name { get; set; } = "";
        [JsonPropertyName("k")] public PrincipalKind Kind { get; set; }
        [JsonPropertyName("a")] public bool Admin { get; set; }
        [JsonPropertyName("r")] public Dictionary<string, Role>? Roles { get; set; }
        [JsonPropertyName("x")] public long Expires { get; set; }
    }

    [JsonSerializable(typeof(Payload))]
    internal sealed partial class PayloadContext : JsonSerializerContext;
}
