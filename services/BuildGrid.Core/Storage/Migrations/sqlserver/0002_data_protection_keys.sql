-- The Data Protection key ring shared by every replica (Storage/SqlKeyRing.cs); each key's XML is AES-GCM encrypted.
CREATE TABLE data_protection_keys (
    name       VARCHAR(200)  NOT NULL PRIMARY KEY,
    xml        NVARCHAR(MAX) NOT NULL,
    created_at BIGINT        NOT NULL
);
