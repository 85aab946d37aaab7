-- The audit log: every service's AuditRecorded events, stored once by their id.
CREATE TABLE audit_entries (
    seq            BIGINT IDENTITY(1,1) PRIMARY KEY,
    id             VARCHAR(64)   NOT NULL UNIQUE,
    time           BIGINT        NOT NULL,
    principal      NVARCHAR(200) NOT NULL,
    principal_kind VARCHAR(16)   NOT NULL,
    service        VARCHAR(32)   NOT NULL,
    action         NVARCHAR(200) NOT NULL,
    namespace      NVARCHAR(128) NOT NULL,
    resource       NVARCHAR(400) NOT NULL,
    remote_ip      VARCHAR(64)   NOT NULL,
    request_id     VARCHAR(128)  NOT NULL
);
CREATE INDEX ix_audit_time ON audit_entries (time, seq);
CREATE INDEX ix_audit_namespace ON audit_entries (namespace, time, seq);
CREATE INDEX ix_audit_principal ON audit_entries (principal, time, seq);
