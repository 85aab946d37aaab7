-- See the sqlite migration. User names compare exactly there, so they do here.
CREATE TABLE users (
    name          TEXT    COLLATE "C" NOT NULL PRIMARY KEY,
    email         TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

CREATE TABLE api_tokens (
    id           TEXT   NOT NULL PRIMARY KEY,
    user_name    TEXT   COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    token_hash   TEXT   NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NULL,
    last_used_at BIGINT NULL
);
CREATE INDEX ix_api_tokens_user ON api_tokens (user_name);

CREATE TABLE robots (
    namespace    TEXT   COLLATE "C" NOT NULL,
    name         TEXT   COLLATE "C" NOT NULL,
    description  TEXT   NOT NULL DEFAULT '',
    token_hash   TEXT   NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NULL,
    last_used_at BIGINT NULL,
    PRIMARY KEY (namespace, name)
);

CREATE TABLE role_bindings (
    namespace  TEXT    COLLATE "C" NOT NULL,
    principal  TEXT    COLLATE "C" NOT NULL,
    role       INTEGER NOT NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (namespace, principal)
);
CREATE INDEX ix_role_bindings_principal ON role_bindings (principal);
