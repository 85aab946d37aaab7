CREATE TABLE runs (
    id               TEXT    PRIMARY KEY,
    kind             TEXT    NOT NULL,
    project          TEXT    NOT NULL DEFAULT '' COLLATE NOCASE,
    definition       TEXT    NOT NULL DEFAULT '',
    service          TEXT    NOT NULL DEFAULT '',
    service_module   TEXT    NOT NULL DEFAULT '',
    tag              TEXT    NOT NULL DEFAULT '',
    image            TEXT    NOT NULL DEFAULT '',
    spec             TEXT    NOT NULL,
    state            INTEGER NOT NULL,
    operator         TEXT    NOT NULL,
    queued_at        INTEGER NOT NULL,
    enqueued_at      INTEGER NOT NULL,
    started_at       INTEGER NULL,
    finished_at      INTEGER NULL,
    image_digest     TEXT    NOT NULL DEFAULT '',
    failure_reason   TEXT    NOT NULL DEFAULT '',
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    worker           TEXT    NOT NULL DEFAULT '',
    lease_until      INTEGER NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    outputs          TEXT    NOT NULL DEFAULT '{}',
    checkouts        TEXT    NOT NULL DEFAULT '[]',
    timeout_minutes  INTEGER NOT NULL,
    log_lines        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX ix_runs_project ON runs (project, queued_at);
CREATE INDEX ix_runs_definition ON runs (definition, queued_at);
CREATE INDEX ix_runs_state ON runs (state, queued_at);

CREATE TABLE run_logs (
    run_id TEXT    NOT NULL,
    line   INTEGER NOT NULL,
    text   TEXT    NOT NULL,
    at     INTEGER NOT NULL,
    PRIMARY KEY (run_id, line)
);
