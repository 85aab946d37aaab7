-- The Data Protection key ring shared by every replica (Storage/SqlKeyRing.cs); each key's XML is AES-GCM encrypted.
CREATE TABLE data_protection_keys (
    name       TEXT    NOT NULL PRIMARY KEY,
    xml        TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
