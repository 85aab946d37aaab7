using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using BuildGrid.Core.Hosting;
using BuildGrid.Core.Identity;
using Dapper;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace BuildGrid.Core.Storage;

/// <summary>
/// The ASP.NET Data Protection key ring of an installation (it encrypts stored credentials: run secrets, definition
/// secrets, pull-through cache passwords), kept where every replica of a service finds it and a restart does not lose
/// it: the <c>data_protection_keys</c> table of the service's database (Core migration 0002), which all replicas share.
/// Each key is stored encrypted with AES-256-GCM (<see cref="KeyRingKey"/>) under a key derived from
/// <c>BUILDGRID_SERVICE_KEY</c> (the same secret on every process); a standalone installation without it keeps a
/// random key in <c>&lt;data&gt;/keys/keyring.key</c> (owner-only). Changing the service key makes the stored keys
/// unreadable: Data Protection then makes a new key, and credentials stored before must be entered again.
/// </summary>
public static class SqlKeyRing
{
    public const string ApplicationName = "BuildGrid";

    /// <summary>
    /// Data Protection for this process, its key ring in the database <paramref name="databaseName"/> (registered with
    /// <see cref="StorageExtensions.AddServiceDatabase"/>). In a process that hosts several services, the first call decides.
    /// </summary>
    public static IServiceCollection AddBuildGridDataProtection(this IServiceCollection services, string databaseName)
    {
        if (services.Any(d => d.ServiceType == typeof(KeyRingKey)))
            return services;
        services.AddDataProtection().SetApplicationName(ApplicationName);
        ReadAtFirstUse(services);
        services.AddSingleton<KeyRingKey>();
        services.AddHostedService<KeyRingKeyCheck>();
        services.AddSingleton<IConfigureOptions<KeyManagementOptions>>(sp => new ConfigureOptions<KeyManagementOptions>(options =>
        {
            var encryptor = new AesGcmXmlEncryptor(sp.GetRequiredService<KeyRingKey>());
            options.XmlRepository = new SqlXmlRepository(sp.GetRequiredKeyedService<ServiceDatabase>(databaseName), encryptor,
                Path.Combine(sp.GetRequiredService<BuildGridSettings>().DataDir, "keys"));
            options.XmlEncryptor = encryptor;
        }));
        return services;
    }

    /// <summary>
    /// Data Protection's own hosted service reads the whole key ring at start (the XML stack, the key table, every key
    /// decrypted) so that the first protected cookie or secret does not wait for it: about 4 MB of an idle process that
    /// may never protect anything. Without it the ring is read at its first use; only its key file is checked at start
    /// (<see cref="KeyRingKeyCheck"/>), so that a damaged one still stops the process before it serves. Every
    /// <c>AddDataProtection</c> (antiforgery and cookie authentication call it too) adds that service again: a composition
    /// calls this after the last of them.
    /// </summary>
    public static IServiceCollection ReadAtFirstUse(IServiceCollection services)
    {
        foreach (var eager in services.Where(d => d.ServiceType == typeof(IHostedService)
            && d.ImplementationType?.FullName == "Microsoft.AspNetCore.DataProtection.Internal.DataProtectionHostedService").ToList())
            services.Remove(eager);
        return services;
    }

    /// <summary>
    /// Data Protection for a process that hosts no service with a key ring (a gateway of its own, whose console session
    /// cookies and antiforgery tokens it protects): the same kind of key ring, in a database of its own named
    /// <paramref name="databaseName"/> (Core's migrations only; with PostgreSQL its own schema of the shared database),
    /// so that every replica behind one address reads every other's cookies. Where a service's key ring is already
    /// registered, that one is used.
    /// </summary>
    public static IServiceCollection AddOwnDataProtection(this IServiceCollection services, string databaseName, System.Reflection.Assembly owner)
    {
        if (services.Any(d => d.ServiceType == typeof(KeyRingKey)))
            return services;
        services.TryAddSingleton(TimeProvider.System);
        services.AddKeyedSingleton(databaseName, (sp, _) => new ServiceDatabase(databaseName, owner,
            sp.GetRequiredService<BuildGridSettings>(), sp.GetRequiredService<DiskSpace>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>()));
        return services.AddBuildGridDataProtection(databaseName);
    }
}

/// <summary>Reads (or makes) <see cref="KeyRingKey"/> as the host starts: a key file of the wrong size stops the start.</summary>
internal sealed class KeyRingKeyCheck : IHostedService
{
    // Resolving the key is the check: its constructor throws a StartupException for a damaged file, as the key ring's
    // own start did when it was read eagerly.
    public KeyRingKeyCheck(KeyRingKey key) => _ = key;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>The 256-bit key that encrypts the stored Data Protection keys (see <see cref="SqlKeyRing"/>).</summary>
public sealed class KeyRingKey
{
    internal const string FileName = "keyring.key";

    public KeyRingKey(IConfiguration configuration, BuildGridSettings settings)
    {
        if (configuration[IdentitySettings.ServiceKeySetting] is { Length: > 0 } secret && !string.IsNullOrWhiteSpace(secret))
        {
            Value = HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret), 32,
                info: "buildgrid data protection key ring v1"u8.ToArray());
            return;
        }
        var directory = Path.Combine(settings.DataDir, "keys");
        OwnerOnlyFiles.CreateDirectory(directory);
        var path = Path.Combine(directory, FileName);
        try
        {
            using var created = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
            created.Write(RandomNumberGenerator.GetBytes(32));
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another process of the installation (or an earlier start) made it.
        }
        Value = File.ReadAllBytes(path);
        if (Value.Length != 32)
            throw new StartupException($"{path} must hold 32 bytes (the key ring's key); it holds {Value.Length}. Restore it or set {IdentitySettings.ServiceKeySetting}.");
    }

    internal byte[] Value { get; }
}

/// <summary>
/// Data Protection's keys, one row each, as the key manager wrote them (already encrypted). An empty table first takes
/// the keys of the ring an earlier BuildGrid kept in <c>&lt;data&gt;/keys</c> (encrypting their secrets on the way), so
/// that credentials stored before the upgrade stay readable.
/// </summary>
sealed class SqlXmlRepository(ServiceDatabase database, AesGcmXmlEncryptor encryptor, string legacyDirectory) : IXmlRepository
{
    static readonly XNamespace DataProtection = "http://schemas.asp.net/2015/03/dataProtection";

    public IReadOnlyCollection<XElement> GetAllElements()
    {
        using var connection = database.OpenAsync(CancellationToken.None).GetAwaiter().GetResult();
        var stored = connection.Query<string>("SELECT xml FROM data_protection_keys ORDER BY created_at, name").ToList();
        if (stored.Count == 0 && Directory.Exists(legacyDirectory))
        {
            foreach (var file in Directory.EnumerateFiles(legacyDirectory, "*.xml").Order(StringComparer.Ordinal))
            {
                try
                {
                    Insert(connection, Encrypted(XElement.Load(file)), Path.GetFileNameWithoutExtension(file));
                }
                catch (System.Data.Common.DbException)
                {
                    // Another replica imported it first.
                }
            }
            stored = [.. connection.Query<string>("SELECT xml FROM data_protection_keys ORDER BY created_at, name")];
        }
        return [.. stored.Select(xml => XElement.Parse(xml))];
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        using var connection = database.OpenAsync(CancellationToken.None).GetAwaiter().GetResult();
        Insert(connection, element, friendlyName);
    }

    void Insert(System.Data.Common.DbConnection connection, XElement element, string name) =>
        connection.Execute("INSERT INTO data_protection_keys (name, xml, created_at) VALUES (@name, @xml, @now)",
            new { name, xml = element.ToString(SaveOptions.DisableFormatting), now = database.Time.GetUtcNow().ToUnixTimeMilliseconds() });

    /// <summary>What the key manager does before it stores a key: each element marked requiresEncryption, encrypted.</summary>
    XElement Encrypted(XElement key)
    {
        var copy = new XElement(key);
        foreach (var secret in copy.Descendants().Where(e => (bool?)e.Attribute(DataProtection + "requiresEncryption") == true).ToList())
        {
            var encrypted = encryptor.Encrypt(secret);
            secret.ReplaceWith(new XElement(DataProtection + "encryptedSecret",
                new XAttribute("decryptorType", encrypted.DecryptorType.AssemblyQualifiedName!), encrypted.EncryptedElement));
        }
        return copy;
    }
}

/// <summary>Encrypts a key's XML with AES-256-GCM: <c>&lt;aesGcm&gt;</c> holds base64(nonce ‖ tag ‖ ciphertext).</summary>
sealed class AesGcmXmlEncryptor(KeyRingKey key) : IXmlEncryptor
{
    internal const string Element = "aesGcm";

    public EncryptedXmlInfo Encrypt(XElement plaintextElement)
    {
        var plaintext = Encoding.UTF8.GetBytes(plaintextElement.ToString(SaveOptions.DisableFormatting));
        var sealedBytes = new byte[AesGcm.NonceByteSizes.MaxSize + AesGcm.TagByteSizes.MaxSize + plaintext.Length];
        var nonce = sealedBytes.AsSpan(0, AesGcm.NonceByteSizes.MaxSize);
        var tag = sealedBytes.AsSpan(nonce.Length, AesGcm.TagByteSizes.MaxSize);
        RandomNumberGenerator.Fill(nonce);
        using (var aes = new AesGcm(key.Value, tag.Length))
            aes.Encrypt(nonce, plaintext, sealedBytes.AsSpan(nonce.Length + tag.Length), tag);
        CryptographicOperations.ZeroMemory(plaintext);
        return new EncryptedXmlInfo(
            new XElement(Element, new XComment(" AES-256-GCM under a key derived from BUILDGRID_SERVICE_KEY "), Convert.ToBase64String(sealedBytes)),
            typeof(AesGcmXmlDecryptor));
    }
}

/// <summary>The other half of <see cref="AesGcmXmlEncryptor"/>; Data Protection creates it by type with the service provider.</summary>
sealed class AesGcmXmlDecryptor(IServiceProvider services) : IXmlDecryptor
{
    public XElement Decrypt(XElement encryptedElement)
    {
        var key = services.GetRequiredService<KeyRingKey>();
        var sealedBytes = Convert.FromBase64String(encryptedElement.Value.Trim());
        var nonceSize = AesGcm.NonceByteSizes.MaxSize;
        var tagSize = AesGcm.TagByteSizes.MaxSize;
        if (sealedBytes.Length < nonceSize + tagSize)
            throw new CryptographicException("A stored Data Protection key is truncated.");
        var plaintext = new byte[sealedBytes.Length - nonceSize - tagSize];
        using (var aes = new AesGcm(key.Value, tagSize))
            aes.Decrypt(sealedBytes.AsSpan(0, nonceSize), sealedBytes.AsSpan(nonceSize + tagSize), sealedBytes.AsSpan(nonceSize, tagSize), plaintext);
        return XElement.Parse(Encoding.UTF8.GetString(plaintext));
    }
}
