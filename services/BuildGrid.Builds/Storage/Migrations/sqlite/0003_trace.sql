-- The W3C traceparent of the call that queued a run: its worker continues that trace (one trace per build).
ALTER TABLE runs ADD COLUMN trace_parent TEXT NOT NULL DEFAULT '';
