-- See the sqlite migration for the meaning of each column. project is citext: SQLite compares it NOCASE.
CREATE TABLE runs (
    id               TEXT    PRIMARY KEY,
    kind             TEXT    NOT NULL,
    project          CITEXT  NOT NULL DEFAULT '',
    definition       TEXT    NOT NULL DEFAULT '',
    service          TEXT    NOT NULL DEFAULT '',
    service_module   TEXT    NOT NULL DEFAULT '',
    tag              TEXT    NOT NULL DEFAULT '',
    image            TEXT    NOT NULL DEFAULT '',
    spec             TEXT    NOT NULL,
    state            INTEGER NOT NULL,
    operator         TEXT    NOT NULL,
    queued_at        BIGINT  NOT NULL,
    enqueued_at      BIGINT  NOT NULL,
    started_at       BIGINT  NULL,
    finished_at      BIGINT  NULL,
    image_digest     TEXT    NOT NULL DEFAULT '',
    failure_reason   TEXT    NOT NULL DEFAULT '',
    attempt          BIGINT  NOT NULL DEFAULT 0,
    max_attempts     BIGINT  NOT NULL,
    worker           TEXT    NOT NULL DEFAULT '',
    lease_until      BIGINT  NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    outputs          TEXT    NOT NULL DEFAULT '{}',
    checkouts        TEXT    NOT NULL DEFAULT '[]',
    timeout_minutes  BIGINT  NOT NULL,
    log_lines        BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX ix_runs_project ON runs (project, queued_at);
CREATE INDEX ix_runs_definition ON runs (definition, queued_at);
CREATE INDEX ix_runs_state ON runs (state, queued_at);

CREATE TABLE run_logs (
    run_id TEXT   NOT NULL,
    line   BIGINT NOT NULL,
    text   TEXT   NOT NULL,
    at     BIGINT NOT NULL,
    PRIMARY KEY (run_id, line)
);
