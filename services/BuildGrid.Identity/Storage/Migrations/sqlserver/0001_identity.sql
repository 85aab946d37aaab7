-- Users, API tokens, robot accounts and role bindings. Secrets are stored only as hashes: passwords with ASP.NET Core
-- Identity's PasswordHasher (PBKDF2), tokens as SHA-256 (they are 256-bit random, so a fast hash is enough).
CREATE TABLE users (
    name          NVARCHAR(64)  NOT NULL PRIMARY KEY,
    email         NVARCHAR(256) NOT NULL DEFAULT '',
    password_hash VARCHAR(512)  NULL,
    is_admin      INT           NOT NULL DEFAULT 0,
    disabled      INT           NOT NULL DEFAULT 0,
    created_at    BIGINT        NOT NULL,
    updated_at    BIGINT        NOT NULL
);

CREATE TABLE api_tokens (
    id           VARCHAR(64)   NOT NULL PRIMARY KEY,
    user_name    NVARCHAR(64)  NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    name         NVARCHAR(128) NOT NULL,
    token_hash   VARCHAR(64)   NOT NULL UNIQUE,
    created_at   BIGINT        NOT NULL,
    expires_at   BIGINT        NULL,
    last_used_at BIGINT        NULL
);
CREATE INDEX ix_api_tokens_user ON api_tokens (user_name);

CREATE TABLE robots (
    namespace    NVARCHAR(128)  NOT NULL,
    name         NVARCHAR(64)   NOT NULL,
    description  NVARCHAR(1000) NOT NULL DEFAULT '',
    token_hash   VARCHAR(64)    NOT NULL UNIQUE,
    created_at   BIGINT         NOT NULL,
    expires_at   BIGINT         NULL,
    last_used_at BIGINT         NULL,
    PRIMARY KEY (namespace, name)
);

CREATE TABLE role_bindings (
    namespace  NVARCHAR(128) NOT NULL,
    principal  NVARCHAR(200) NOT NULL,
    role       INT           NOT NULL,
    created_at BIGINT        NOT NULL,
    PRIMARY KEY (namespace, principal)
);
CREATE INDEX ix_role_bindings_principal ON role_bindings (principal);
