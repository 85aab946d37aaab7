-- Several Registry processes may share one data directory and this database (distributed mode). Three things keep the
-- collector of one replica from deleting a blob that another replica is committing:
--  * an upload session that is committing a blob names its digest (a claim) until the transaction that links the blob
--    deletes the session; a collection never deletes a digest that a live session claims;
--  * a collection writes a blob_deletions row in the transaction that removes the blob's rows, and deletes the row
--    after the file; an upload of that digest waits for it before it claims (unless the collection's lease lapsed);
--  * the 'gc' lease lets one collection run at a time across all replicas.
ALTER TABLE uploads ADD digest VARCHAR(71) COLLATE Latin1_General_100_BIN2 NULL;
CREATE INDEX ix_uploads_digest ON uploads (digest);

CREATE TABLE registry_leases (
    name       VARCHAR(64)  NOT NULL PRIMARY KEY,
    holder     VARCHAR(200) NOT NULL,
    expires_at BIGINT       NOT NULL
);

CREATE TABLE blob_deletions (
    digest     VARCHAR(71)  COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY,
    holder     VARCHAR(200) NOT NULL,
    created_at BIGINT       NOT NULL
);
