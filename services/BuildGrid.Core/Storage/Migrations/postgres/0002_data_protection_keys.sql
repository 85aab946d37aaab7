-- The Data Protection key ring shared by every replica (Storage/SqlKeyRing.cs); each key's XML is AES-GCM encrypted.
-- A replica importing the same legacy key file as another fails on the primary key and skips it.
CREATE TABLE data_protection_keys (
    name       TEXT   NOT NULL PRIMARY KEY,
    xml        TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
