-- The audit log: every service's AuditRecorded events, stored once by their id.
CREATE TABLE audit_entries (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT    NOT NULL UNIQUE,
    time           INTEGER NOT NULL,
    principal      TEXT    NOT NULL,
    principal_kind TEXT    NOT NULL,
    service        TEXT    NOT NULL,
    action         TEXT    NOT NULL,
    namespace      TEXT    NOT NULL,
    resource       TEXT    NOT NULL,
    remote_ip      TEXT    NOT NULL,
    request_id     TEXT    NOT NULL
);
CREATE INDEX ix_audit_time ON audit_entries (time, seq);
CREATE INDEX ix_audit_namespace ON audit_entries (namespace, time, seq);
CREATE INDEX ix_audit_principal ON audit_entries (principal, time, seq);
