CREATE TABLE runs (
    id               VARCHAR(40)    PRIMARY KEY,
    kind             VARCHAR(16)    NOT NULL,
    project          NVARCHAR(64)   COLLATE Latin1_General_100_CI_AS NOT NULL DEFAULT '',
    definition       NVARCHAR(128)  NOT NULL DEFAULT '',
    service          NVARCHAR(128)  NOT NULL DEFAULT '',
    service_module   NVARCHAR(128)  NOT NULL DEFAULT '',
    tag              NVARCHAR(128)  NOT NULL DEFAULT '',
    image            NVARCHAR(512)  NOT NULL DEFAULT '',
    spec             NVARCHAR(MAX)  NOT NULL,
    state            INT            NOT NULL,
    operator         NVARCHAR(64)   NOT NULL,
    queued_at        BIGINT         NOT NULL,
    enqueued_at      BIGINT         NOT NULL,
    started_at       BIGINT         NULL,
    finished_at      BIGINT         NULL,
    image_digest     VARCHAR(100)   NOT NULL DEFAULT '',
    failure_reason   NVARCHAR(2000) NOT NULL DEFAULT '',
    attempt          INT            NOT NULL DEFAULT 0,
    max_attempts     INT            NOT NULL,
    worker           VARCHAR(100)   NOT NULL DEFAULT '',
    lease_until      BIGINT         NULL,
    cancel_requested INT            NOT NULL DEFAULT 0,
    outputs          NVARCHAR(MAX)  NOT NULL DEFAULT '{}',
    checkouts        NVARCHAR(MAX)  NOT NULL DEFAULT '[]',
    timeout_minutes  INT            NOT NULL,
    log_lines        BIGINT         NOT NULL DEFAULT 0
);
CREATE INDEX ix_runs_project ON runs (project, queued_at);
CREATE INDEX ix_runs_definition ON runs (definition, queued_at);
CREATE INDEX ix_runs_state ON runs (state, queued_at);

CREATE TABLE run_logs (
    run_id VARCHAR(40)    NOT NULL,
    line   BIGINT         NOT NULL,
    text   NVARCHAR(4000) NOT NULL,
    at     BIGINT         NOT NULL,
    PRIMARY KEY (run_id, line)
);
