-- The namespace (image-market cluster, Zadig project) whose roles govern who may read and cancel a run.
-- Runs queued before it was recorded have '' and are visible to administrators only.
ALTER TABLE runs ADD COLUMN namespace TEXT NOT NULL DEFAULT '';
CREATE INDEX ix_runs_namespace ON runs (namespace, queued_at);
