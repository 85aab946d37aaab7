-- The registry's metadata. Blob bytes live on disk under {data}/registry/blobs/sha256/xx/<hex>; a row in blobs means
-- the file is in place (the file is renamed into place before the row is written, and deleted after the row).
-- No foreign keys: every write keeps these tables consistent inside one transaction.
CREATE TABLE repositories (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX ux_repositories_name ON repositories (name);

CREATE TABLE blobs (
    digest         TEXT    NOT NULL PRIMARY KEY,
    size           INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    -- Garbage collection keeps a blob for its grace period after this (upload, re-upload or mount).
    last_linked_at INTEGER NOT NULL
);

-- Which repositories may serve a blob (the spec scopes blob access to a repository).
CREATE TABLE repository_blobs (
    repository_id INTEGER NOT NULL,
    digest        TEXT    NOT NULL,
    linked_at     INTEGER NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX ix_repository_blobs_digest ON repository_blobs (digest);

CREATE TABLE manifests (
    repository_id INTEGER NOT NULL,
    digest        TEXT    NOT NULL,
    media_type    TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    content       BLOB    NOT NULL,
    -- Manifest plus the blobs (or child manifests) it references directly.
    total_size    INTEGER NOT NULL,
    subject       TEXT    NULL,
    artifact_type TEXT    NULL,
    annotations   TEXT    NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX ix_manifests_subject ON manifests (repository_id, subject);

-- The blobs (kind 1) and child manifests (kind 2) a manifest references: garbage collection marks from here.
CREATE TABLE manifest_references (
    repository_id   INTEGER NOT NULL,
    manifest_digest TEXT    NOT NULL,
    digest          TEXT    NOT NULL,
    kind            INTEGER NOT NULL,
    PRIMARY KEY (repository_id, manifest_digest, kind, digest)
);
CREATE INDEX ix_manifest_references_digest ON manifest_references (digest, kind);

-- Names compare by bytes (BINARY collation): tags/list answers in lexical order as the spec asks.
CREATE TABLE tags (
    repository_id INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    digest        TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (repository_id, name)
);
CREATE INDEX ix_tags_digest ON tags (repository_id, digest);

-- Upload sessions; the bytes so far are in {data}/registry/uploads/<id>.
CREATE TABLE uploads (
    id         TEXT    NOT NULL PRIMARY KEY,
    repository TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX ix_uploads_updated ON uploads (updated_at);
