-- See the sqlite migration for the meaning of each table. Names use a binary collation so that ORDER BY name is
-- lexical byte order, as tags/list and _catalog require.
CREATE TABLE repositories (
    id         BIGINT IDENTITY(1,1) PRIMARY KEY,
    name       VARCHAR(255) COLLATE Latin1_General_100_BIN2 NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_repositories_name ON repositories (name);

CREATE TABLE blobs (
    digest         VARCHAR(71) COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY,
    size           BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_linked_at BIGINT NOT NULL
);

CREATE TABLE repository_blobs (
    repository_id BIGINT NOT NULL,
    digest        VARCHAR(71) COLLATE Latin1_General_100_BIN2 NOT NULL,
    linked_at     BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX ix_repository_blobs_digest ON repository_blobs (digest);

CREATE TABLE manifests (
    repository_id BIGINT NOT NULL,
    digest        VARCHAR(71) COLLATE Latin1_General_100_BIN2 NOT NULL,
    media_type    VARCHAR(255) NOT NULL,
    size          BIGINT NOT NULL,
    content       VARBINARY(MAX) NOT NULL,
    total_size    BIGINT NOT NULL,
    subject       VARCHAR(71) COLLATE Latin1_General_100_BIN2 NULL,
    artifact_type VARCHAR(255) NULL,
    annotations   NVARCHAR(MAX) NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX ix_manifests_subject ON manifests (repository_id, subject);

CREATE TABLE manifest_references (
    repository_id   BIGINT NOT NULL,
    manifest_digest VARCHAR(71) COLLATE Latin1_General_100_BIN2 NOT NULL,
    digest          VARCHAR(71) COLLATE Latin1_General_100_BIN2 NOT NULL,
    kind            INT NOT NULL,
    PRIMARY KEY (repository_id, manifest_digest, kind, digest)
);
CREATE INDEX ix_manifest_references_digest ON manifest_references (digest, kind);

CREATE TABLE tags (
    repository_id BIGINT NOT NULL,
    name          VARCHAR(128) COLLATE Latin1_General_100_BIN2 NOT NULL,
    digest        VARCHAR(71) COLLATE Latin1_General_100_BIN2 NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (repository_id, name)
);
CREATE INDEX ix_tags_digest ON tags (repository_id, digest);

CREATE TABLE uploads (
    id         VARCHAR(64) NOT NULL PRIMARY KEY,
    repository VARCHAR(255) COLLATE Latin1_General_100_BIN2 NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX ix_uploads_updated ON uploads (updated_at);
