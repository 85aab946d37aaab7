-- Users, API tokens, robot accounts and role bindings. Secrets are stored only as hashes: passwords with ASP.NET Core
-- Identity's PasswordHasher (PBKDF2), tokens as SHA-256 (they are 256-bit random, so a fast hash is enough).
CREATE TABLE users (
    name          TEXT    NOT NULL PRIMARY KEY,
    email         TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_name    TEXT    NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NULL,
    last_used_at INTEGER NULL
);
CREATE INDEX ix_api_tokens_user ON api_tokens (user_name);

CREATE TABLE robots (
    namespace    TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    token_hash   TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NULL,
    last_used_at INTEGER NULL,
    PRIMARY KEY (namespace, name)
);

-- principal: a user name or a robot "<namespace>+<name>"; role: 1 guest, 2 developer, 3 owner.
CREATE TABLE role_bindings (
    namespace  TEXT    NOT NULL,
    principal  TEXT    NOT NULL,
    role       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, principal)
);
CREATE INDEX ix_role_bindings_principal ON role_bindings (principal);
