using System.Data.Common;
using BuildGrid.Core.Errors;
using BuildGrid.Core.Events;
using BuildGrid.Core.Storage;
using BuildGrid.Events.V1;
using Dapper;

namespace BuildGrid.Identity.Storage;

/// <summary>
/// All SQL of users, API tokens, robots and role bindings. Every write records its audit entry (and publishes it as
/// <see cref="AuditRecorded"/>) in the same transaction.
/// </summary>
public sealed class IdentityStore([FromKeyedServices(IdentityExtensions.AppId)] ServiceDatabase db, Outbox outbox, AuditStore audit)
{
    const string UserColumns = """
        name AS Name, email AS Email, password_hash AS PasswordHash, is_admin AS IsAdmin, disabled AS Disabled,
        created_at AS CreatedAt, updated_at AS UpdatedAt
        """;
    const string TokenColumns = """
        id AS Id, user_name AS UserName, name AS Name, token_hash AS TokenHash, created_at AS CreatedAt, expires_at AS ExpiresAt,
        last_used_at AS LastUsedAt
        """;
    const string RobotColumns = """
        namespace AS Namespace, name AS Name, description AS Description, token_hash AS TokenHash, created_at AS CreatedAt,
        expires_at AS ExpiresAt, last_used_at AS LastUsedAt
        """;
    const string BindingColumns = "namespace AS Namespace, principal AS Principal, role AS Role";

    public ServiceDatabase Database => db;

    // ---- users

    public async Task<UserRow?> FindUserAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<UserRow>(new CommandDefinition(
            $"SELECT {UserColumns} FROM users WHERE name = @name", new { name }, cancellationToken: cancellationToken));
    }

    /// <summary>Users with names after <paramref name="after"/>, by name.</summary>
    public async Task<IReadOnlyList<UserRow>> ListUsersAsync(string after, int limit, bool includeDisabled, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var filter = includeDisabled ? "" : "AND disabled = 0";
        return (await connection.QueryAsync<UserRow>(new CommandDefinition(
            $"SELECT {UserColumns} FROM users WHERE name > @after {filter} ORDER BY name {db.Dialect.Page}",
            new { after, offset = 0, limit }, cancellationToken: cancellationToken))).ToList();
    }

    public Task InsertUserAsync(UserRow row, AuditRecorded entry, CancellationToken cancellationToken) =>
        WriteAsync(entry, async (connection, tx) =>
        {
            try
            {
                await connection.ExecuteAsync(new CommandDefinition("""
                    INSERT INTO users (name, email, password_hash, is_admin, disabled, created_at, updated_at)
                    VALUES (@Name, @Email, @PasswordHash, @IsAdmin, @Disabled, @CreatedAt, @UpdatedAt)
                    """, row, tx, cancellationToken: cancellationToken));
            }
            catch (DbException e) when (db.Dialect.IsUniqueViolation(e))
            {
                throw Errors.AlreadyExists(Reasons.UserAlreadyExists, "user", row.Name);
            }
            return 0;
        }, cancellationToken);

    /// <summary>Reads, changes and writes one user in one transaction.</summary>
    public Task<UserRow> UpdateUserAsync(string name, Action<UserRow> change, AuditRecorded entry, CancellationToken cancellationToken) =>
        WriteAsync(entry, async (connection, tx) =>
        {
            var row = await connection.QuerySingleOrDefaultAsync<UserRow>(new CommandDefinition(
                $"SELECT {UserColumns} FROM users WHERE name = @name", new { name }, tx, cancellationToken: cancellationToken))
                ?? throw Errors.NotFound(Reasons.UserNotFound, "user", name);
            change(row);
            await connection.ExecuteAsync(new CommandDefinition("""
                UPDATE users SET email = @Email, password_hash = @PasswordHash, is_admin = @IsAdmin, disabled = @Disabled, updated_at = @UpdatedAt
                WHERE name = @Name
                """, row, tx, cancellationToken: cancellationToken));
            return row;
        }, cancellationToken);

    /// <summary>Deletes a user with its tokens and role bindings.</summary>
    public Task DeleteUserAsync(string name, AuditRecorded entry, CancellationToken cancellationToken) =>
        WriteAsync(entry, async (connection, tx) =>
        {
            await connection.ExecuteAsync(new CommandDefinition("DELETE FROM api_tokens WHERE user_name = @name", new { name }, tx, cancellationToken: cancellationToken));
            await connection.ExecuteAsync(new CommandDefinition("DELETE FROM role_bindings WHERE principal = @name", new { name }, tx, cancellationToken: cancellationToken));
            if (await connection.ExecuteAsync(new CommandDefinition("DELETE FROM users WHERE name = @name", new { name }, tx, cancellationToken: cancellationToken)) != 1)
                throw Errors.NotFound(Reasons.UserNotFound, "user", name);
            return 0;
        }, cancellationToken);

    /// <summary>
    /// Makes sure the bootstrap admin exists and is an enabled admin; <paramref name="hashFor"/> answers the new password
    /// hash given the stored one (null: keep it). Not audited as a caller's write: it is the installation's setting.
    /// </summary>
    public async Task<bool> EnsureAdminAsync(string name, Func<string?, string?> hashFor, long now, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<UserRow>(new CommandDefinition(
            $"SELECT {UserColumns} FROM users WHERE name = @name", new { name }, tx, cancellationToken: cancellationToken));
        var hash = hashFor(row?.PasswordHash);
        if (row is null)
            await connection.ExecuteAsync(new CommandDefinition("""
                INSERT INTO users (name, email, password_hash, is_admin, disabled, created_at, updated_at)
                VALUES (@name, '', @hash, 1, 0, @now, @now)
                """, new { name, hash, now }, tx, cancellationToken: cancellationToken));
        else
            await connection.ExecuteAsync(new CommandDefinition("""
                UPDATE users SET password_hash = @hash, is_admin = 1, disabled = 0, updated_at = @now WHERE name = @name
                """, new { name, hash = hash ?? row.PasswordHash, now }, tx, cancellationToken: cancellationToken));
        await tx.CommitAsync(cancellationToken);
        return hash is not null;
    }

    // ---- API tokens

    public async Task<TokenRow?> FindTokenByHashAsync(string hash, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<TokenRow>(new CommandDefinition(
            $"SELECT {TokenColumns} FROM api_tokens WHERE token_hash = @hash", new { hash }, cancellationToken: cancellationToken));
    }

    public async Task<IReadOnlyList<TokenRow>> ListTokensAsync(string user, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<TokenRow>(new CommandDefinition(
            $"SELECT {TokenColumns} FROM api_tokens WHERE user_name = @user ORDER BY created_at, id", new { user }, cancellationToken: cancellationToken))).ToList();
    }

    public async Task<TokenRow?> FindTokenAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<TokenRow>(new CommandDefinition(
            $"SELECT {TokenColumns} FROM api_tokens WHERE id = @id", new { id }, cancellationToken: cancellationToken));
    }

    public Task InsertTokenAsync(TokenRow row, AuditRecorded entry, CancellationToken cancellationToken) =>
        WriteAsync(entry, async (connection, tx) =>
        {
            try
            {
                await connection.ExecuteAsync(new CommandDefinition("""
                    INSERT INTO api_tokens (id, user_name, name, token_hash, created_at, expires_at, last_used_at)
                    VALUES (@Id, @UserName, @Name, @TokenHash, @CreatedAt, @ExpiresAt, NULL)
                    """, row, tx, cancellationToken: cancellationToken));
            }
            catch (DbException e) when (db.Dialect.IsForeignKeyViolation(e))
            {
                throw Errors.NotFound(Reasons.UserNotFound, "user", row.UserName);
            }
            return 0;
        }, cancellationToken);

    public Task DeleteTokenAsync(string id, AuditRecorded entry, CancellationToken cancellationToken) =>
        WriteAsync(entry, async (connection, tx) =>
        {
            if (await connection.ExecuteAsync(new CommandDefinition("DELETE FROM api_tokens WHERE id = @id", new { id }, tx, cancellationToken: cancellationToken)) != 1)
                throw Errors.NotFound(Reasons.TokenNotFound, "token", id);
            return 0;
        }, cancellationToken);

    /// <summary>Records a use (callers call this at most once a minute per token).</summary>
    public async Task TouchTokenAsync(string id, long now, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("UPDATE api_tokens SET last_used_at = @now WHERE id = @id",
            new { id, now }, cancellationToken: cancellationToken));
    }

    public async Task TouchRobotAsync(string @namespace, string name, long now, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("UPDATE robots SET last_used_at = @now WHERE namespace = @namespace AND name = @name",
            new { @namespace, name, now }, cancellationToken: cancellationToken));
    }

    // ---- robots

    public async Task<RobotRow?> FindRobotAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<RobotRow>(new CommandDefinition(
            $"SELECT {RobotColumns} FROM robots WHERE namespace = @namespace AND name = @name", new { @namespace, name }, cancellationToken: cancellationToken));
    }

    public async Task<RobotRow?> FindRobotByHashAsync(string hash, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<RobotRow>(new CommandDefinition(
            $"SELECT {RobotColumns} FROM robots WHERE token_hash = @hash", new { hash }, cancellationToken: cancellationToken));
    }

    public async Task<IReadOnlyList<RobotRow>> ListRobotsAsync(string? @namespace, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        var filter = @namespace is null ? "" : "WHERE namespace = @namespace";
        return (await connection.QueryAsync<RobotRow>(new CommandDefinition(
            $"SELECT {RobotColumns} FROM robots {filter} ORDER BY namespace, name", new { @namespace }, cancellationToken: cancellationToken))).ToList();
    }

    /// <summary>Robots whose token lapses before <paramref name="before"/> (expired ones too).</summary>
    public async Task<IReadOnlyList<RobotRow>> ListRobotsExpiringAsync(long before, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<RobotRow>(new CommandDefinition(
            $"SELECT {RobotColumns} FROM robots WHERE expires_at IS NOT NULL AND expires_at < @before ORDER BY expires_at",
            new { before }, cancellationToken: cancellationToken))).ToList();
    }

    /// <summary>Inserts a robot and its role in its namespace.</summary>
    public Task InsertRobotAsync(RobotRow row, int role, AuditRecorded entry, CancellationToken cancellationToken) =>
        WriteAsync(entry, async (connection, tx) =>
        {
            try
            {
                await connection.ExecuteAsync(new CommandDefinition("""
                    INSERT INTO robots (namespace, name, description, token_hash, created_at, expires_at, last_used_at)
                    VALUES (@Namespace, @Name, @Description, @TokenHash, @CreatedAt, @ExpiresAt, NULL)
                    """, row, tx, cancellationToken: cancellationToken));
            }
            catch (DbException e) when (db.Dialect.IsUniqueViolation(e))
            {
                throw Errors.AlreadyExists(Reasons.RobotAlreadyExists, "robot", row.Account);
            }
            await SetBindingAsync(connection, tx, row.Namespace, row.Account, role, row.CreatedAt, cancellationToken);
            return 0;
        }, cancellationToken);

    public Task<RobotRow> ReplaceRobotTokenAsync(string @namespace, string name, string hash, long? expiresAt, AuditRecorded entry,
        CancellationToken cancellationToken) =>
        WriteAsync(entry, async (connection, tx) =>
        {
            if (await connection.ExecuteAsync(new CommandDefinition(
                    "UPDATE robots SET token_hash = @hash, expires_at = @expiresAt WHERE namespace = @namespace AND name = @name",
                    new { @namespace, name, hash, expiresAt }, tx, cancellationToken: cancellationToken)) != 1)
                throw Errors.NotFound(Reasons.RobotNotFound, "robot", $"{@namespace}+{name}");
            return (await connection.QuerySingleAsync<RobotRow>(new CommandDefinition(
                $"SELECT {RobotColumns} FROM robots WHERE namespace = @namespace AND name = @name", new { @namespace, name }, tx,
                cancellationToken: cancellationToken)));
        }, cancellationToken);

    public Task DeleteRobotAsync(string @namespace, string name, AuditRecorded entry, CancellationToken cancellationToken) =>
        WriteAsync(entry, async (connection, tx) =>
        {
            await connection.ExecuteAsync(new CommandDefinition("DELETE FROM role_bindings WHERE principal = @account",
                new { account = $"{@namespace}+{name}" }, tx, cancellationToken: cancellationToken));
            if (await connection.ExecuteAsync(new CommandDefinition("DELETE FROM robots WHERE namespace = @namespace AND name = @name",
                    new { @namespace, name }, tx, cancellationToken: cancellationToken)) != 1)
                throw Errors.NotFound(Reasons.RobotNotFound, "robot", $"{@namespace}+{name}");
            return 0;
        }, cancellationToken);

    // ---- roles

    public async Task<IReadOnlyList<BindingRow>> RolesOfAsync(string principal, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<BindingRow>(new CommandDefinition(
            $"SELECT {BindingColumns} FROM role_bindings WHERE principal = @principal", new { principal }, cancellationToken: cancellationToken))).ToList();
    }

    /// <summary>The role bindings of several principals in one query (a page of users).</summary>
    public async Task<IReadOnlyList<BindingRow>> RolesOfAsync(IReadOnlyCollection<string> principals, CancellationToken cancellationToken)
    {
        if (principals.Count == 0)
            return [];
        await using var connection = await db.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<BindingRow>(new CommandDefinition(
            $"SELECT {BindingColumns} FROM role_bindings WHERE principal IN @principals", new { principals }, cancellationToken: cancellationToken))).ToList();
    }

    public async Task<IReadOnlyList<BindingRow>> ListBindingsAsync(string @namespace, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<BindingRow>(new CommandDefinition(
            $"SELECT {BindingColumns} FROM role_bindings WHERE namespace = @namespace ORDER BY principal", new { @namespace },
            cancellationToken: cancellationToken))).ToList();
    }

    /// <summary>Grants a role; the principal (a user, or a robot of this namespace) must exist.</summary>
    public Task GrantAsync(string @namespace, string principal, bool isRobot, int role, long now, AuditRecorded entry, CancellationToken cancellationToken) =>
        WriteAsync(entry, async (connection, tx) =>
        {
            var exists = isRobot
                ? await connection.ExecuteScalarAsync<int>(new CommandDefinition(
                    "SELECT COUNT(*) FROM robots WHERE namespace = @namespace AND name = @name",
                    new { @namespace, name = principal[(principal.IndexOf('+') + 1)..] }, tx, cancellationToken: cancellationToken))
                : await connection.ExecuteScalarAsync<int>(new CommandDefinition(
                    "SELECT COUNT(*) FROM users WHERE name = @principal", new { principal }, tx, cancellationToken: cancellationToken));
            if (exists == 0)
                throw isRobot ? Errors.NotFound(Reasons.RobotNotFound, "robot", principal) : Errors.NotFound(Reasons.UserNotFound, "user", principal);
            await SetBindingAsync(connection, tx, @namespace, principal, role, now, cancellationToken);
            return 0;
        }, cancellationToken);

    public Task RevokeAsync(string @namespace, string principal, AuditRecorded entry, CancellationToken cancellationToken) =>
        WriteAsync(entry, async (connection, tx) =>
        {
            if (await connection.ExecuteAsync(new CommandDefinition("DELETE FROM role_bindings WHERE namespace = @namespace AND principal = @principal",
                    new { @namespace, principal }, tx, cancellationToken: cancellationToken)) != 1)
                throw Errors.NotFound(Reasons.RoleBindingNotFound, "role binding", $"{principal} in {@namespace}");
            return 0;
        }, cancellationToken);

    static async Task SetBindingAsync(DbConnection connection, DbTransaction tx, string @namespace, string principal, int role, long now,
        CancellationToken cancellationToken)
    {
        // Portable upsert: the write transaction holds the lock, so delete-then-insert cannot race.
        await connection.ExecuteAsync(new CommandDefinition("DELETE FROM role_bindings WHERE namespace = @namespace AND principal = @principal",
            new { @namespace, principal }, tx, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO role_bindings (namespace, principal, role, created_at) VALUES (@namespace, @principal, @role, @now)
            """, new { @namespace, principal, role, now }, tx, cancellationToken: cancellationToken));
    }

    /// <summary>One write transaction: the change, its audit entry and its AuditRecorded event commit together.</summary>
    async Task<T> WriteAsync<T>(AuditRecorded entry, Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        await using var tx = await db.Dialect.BeginWriteAsync(connection, cancellationToken);
        var result = await work(connection, tx);
        await audit.InsertAsync(connection, tx, entry, cancellationToken);
        await outbox.AddAsync(connection, tx, entry, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        outbox.Wake(db);
        return result;
    }
}

public sealed class UserRow
{
    public string Name { get; set; } = "";
    public string Email { get; set; } = "";
    public string? PasswordHash { get; set; }
    public long IsAdmin { get; set; }
    public long Disabled { get; set; }
    public long CreatedAt { get; set; }
    public long UpdatedAt { get; set; }
}

public sealed class TokenRow
{
    public string Id { get; set; } = "";
    public string UserName { get; set; } = "";
    public string Name { get; set; } = "";
    public string TokenHash { get; set; } = "";
    public long CreatedAt { get; set; }
    public long? ExpiresAt { get; set; }
    public long? LastUsedAt { get; set; }
}

public sealed class RobotRow
{
    public string Namespace { get; set; } = "";
    public string Name { get; set; } = "";
    public string Description { get; set; } = "";
    public string TokenHash { get; set; } = "";
    public long CreatedAt { get; set; }
    public long? ExpiresAt { get; set; }
    public long? LastUsedAt { get; set; }
    public string Account => $"{Namespace}+{Name}";
}

public sealed class BindingRow
{
    public string Namespace { get; set; } = "";
    public string Principal { get; set; } = "";
    public long Role { get; set; }
}
