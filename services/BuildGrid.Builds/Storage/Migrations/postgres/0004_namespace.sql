ALTER TABLE runs ADD COLUMN namespace TEXT NOT NULL DEFAULT '';
CREATE INDEX ix_runs_namespace ON runs (namespace, queued_at);
