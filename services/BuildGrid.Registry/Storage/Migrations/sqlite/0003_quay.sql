-- Quay's repository settings (description, visibility, configured quota) and repository notifications with their
-- durable deliveries: a delivery row is written in the transaction that applies the event (the inbox transaction of
-- the registry's subscription), and the NotificationSender sends it later with retries and backoff.
ALTER TABLE repositories ADD COLUMN description TEXT NULL;
ALTER TABLE repositories ADD COLUMN is_public INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN quota_bytes INTEGER NULL;

CREATE TABLE repository_notifications (
    uuid               TEXT    NOT NULL PRIMARY KEY,
    repository         TEXT    NOT NULL,
    title              TEXT    NULL,
    event              TEXT    NOT NULL,
    method             TEXT    NOT NULL,
    config             TEXT    NOT NULL,
    event_config       TEXT    NOT NULL,
    -- Consecutive failed deliveries; at 3 the notification is disabled until reset (as Quay does).
    number_of_failures INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT    NULL,
    created_at         INTEGER NOT NULL
);
CREATE INDEX ix_repository_notifications_repository ON repository_notifications (repository, event);

CREATE TABLE notification_deliveries (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_uuid TEXT    NOT NULL,
    event             TEXT    NOT NULL,
    payload           TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL DEFAULT 0,
    -- Exactly one of these ends a delivery: sent (2xx, or stored for quay_notification) or given up.
    delivered_at      INTEGER NULL,
    abandoned_at      INTEGER NULL,
    last_error        TEXT    NULL
);
CREATE INDEX ix_notification_deliveries_pending ON notification_deliveries (delivered_at, abandoned_at, next_attempt_at);
CREATE INDEX ix_notification_deliveries_notification ON notification_deliveries (notification_uuid, id);

-- The repository of a build run (from BuildQueued.image), for BuildStarted, which names no image.
CREATE TABLE notification_build_runs (
    run_id     TEXT    NOT NULL PRIMARY KEY,
    repository TEXT    NOT NULL,
    tag        TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
