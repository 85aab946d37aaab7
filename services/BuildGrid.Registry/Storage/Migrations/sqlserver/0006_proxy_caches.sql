-- See the sqlite migration.
CREATE TABLE proxy_caches (
    namespace  NVARCHAR(255)  NOT NULL PRIMARY KEY,
    url        NVARCHAR(2048) NOT NULL,
    username   NVARCHAR(255)  NOT NULL,
    password   NVARCHAR(MAX)  NOT NULL,
    updated_at BIGINT         NOT NULL
);
