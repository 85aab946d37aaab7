-- Integration events waiting to be published (transactional outbox), and events already applied (inbox).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT    NOT NULL UNIQUE,
    topic           TEXT    NOT NULL,
    type            TEXT    NOT NULL,
    data            TEXT    NOT NULL,
    trace_parent    TEXT    NULL,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NULL
);
CREATE INDEX ix_outbox_unsent ON outbox (sent_at, id);

CREATE TABLE inbox (
    event_id   TEXT    NOT NULL PRIMARY KEY,
    topic      TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
);
