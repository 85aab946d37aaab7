CREATE TABLE proxy_caches (
    namespace  TEXT   NOT NULL PRIMARY KEY,
    url        TEXT   NOT NULL,
    username   TEXT   NOT NULL,
    password   TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);
