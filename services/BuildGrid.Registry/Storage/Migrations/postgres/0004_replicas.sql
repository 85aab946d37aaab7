-- See the sqlite migration. On PostgreSQL the upload claim, the link and the collector's deletion of one digest also
-- serialize on a transaction advisory lock named after the digest (RegistryStore, ISqlDialect.LockAsync).
ALTER TABLE uploads ADD COLUMN digest TEXT COLLATE "C" NULL;
CREATE INDEX ix_uploads_digest ON uploads (digest);

CREATE TABLE registry_leases (
    name       TEXT   NOT NULL PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE blob_deletions (
    digest     TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
    holder     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
