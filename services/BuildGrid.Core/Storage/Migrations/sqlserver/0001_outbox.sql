-- Integration events waiting to be published (transactional outbox), and events already applied (inbox).
CREATE TABLE outbox (
    id              BIGINT IDENTITY(1,1) PRIMARY KEY,
    event_id        VARCHAR(64)   NOT NULL UNIQUE,
    topic           VARCHAR(200)  NOT NULL,
    type            VARCHAR(200)  NOT NULL,
    data            NVARCHAR(MAX) NOT NULL,
    trace_parent    VARCHAR(64)   NULL,
    created_at      BIGINT        NOT NULL,
    sent_at         BIGINT        NULL,
    attempts        INT           NOT NULL DEFAULT 0,
    next_attempt_at BIGINT        NOT NULL DEFAULT 0,
    last_error      NVARCHAR(2000) NULL
);
CREATE INDEX ix_outbox_unsent ON outbox (sent_at, id);

CREATE TABLE inbox (
    event_id   VARCHAR(64)  NOT NULL PRIMARY KEY,
    topic      VARCHAR(200) NOT NULL,
    applied_at BIGINT       NOT NULL
);
