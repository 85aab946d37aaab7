-- Quay's repository settings (description, visibility, configured quota) and repository notifications with their
-- durable deliveries: a delivery row is written in the transaction that applies the event (the inbox transaction of
-- the registry's subscription), and the NotificationSender sends it later with retries and backoff.
ALTER TABLE repositories ADD description NVARCHAR(MAX) NULL, is_public INT NOT NULL DEFAULT 0, quota_bytes BIGINT NULL;

CREATE TABLE repository_notifications (
    uuid               NVARCHAR(36)  NOT NULL PRIMARY KEY,
    repository         NVARCHAR(255) NOT NULL,
    title              NVARCHAR(MAX) NULL,
    event              NVARCHAR(64)  NOT NULL,
    method             NVARCHAR(64)  NOT NULL,
    config             NVARCHAR(MAX) NOT NULL,
    event_config       NVARCHAR(MAX) NOT NULL,
    number_of_failures INT           NOT NULL DEFAULT 0,
    last_error         NVARCHAR(MAX) NULL,
    created_at         BIGINT        NOT NULL
);
CREATE INDEX ix_repository_notifications_repository ON repository_notifications (repository, event);

CREATE TABLE notification_deliveries (
    id                BIGINT IDENTITY(1,1) PRIMARY KEY,
    notification_uuid NVARCHAR(36)  NOT NULL,
    event             NVARCHAR(64)  NOT NULL,
    payload           NVARCHAR(MAX) NOT NULL,
    created_at        BIGINT        NOT NULL,
    attempts          INT           NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT        NOT NULL DEFAULT 0,
    delivered_at      BIGINT        NULL,
    abandoned_at      BIGINT        NULL,
    last_error        NVARCHAR(MAX) NULL
);
CREATE INDEX ix_notification_deliveries_pending ON notification_deliveries (delivered_at, abandoned_at, next_attempt_at);
CREATE INDEX ix_notification_deliveries_notification ON notification_deliveries (notification_uuid, id);

CREATE TABLE notification_build_runs (
    run_id     NVARCHAR(64)  NOT NULL PRIMARY KEY,
    repository NVARCHAR(255) NOT NULL,
    tag        NVARCHAR(128) NOT NULL,
    created_at BIGINT        NOT NULL
);
