-- Pull-through caches configured through the API (those in Registry:ProxyCache settings are not stored): a namespace
-- whose repositories mirror an upstream registry. The password is encrypted with the installation's data-protection
-- key ring and never returned.
CREATE TABLE proxy_caches (
    namespace  TEXT    NOT NULL PRIMARY KEY,
    url        TEXT    NOT NULL,
    username   TEXT    NOT NULL,
    password   TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
