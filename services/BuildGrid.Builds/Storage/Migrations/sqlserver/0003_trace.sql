-- The W3C traceparent of the call that queued a run: its worker continues that trace (one trace per build).
ALTER TABLE runs ADD trace_parent VARCHAR(64) NOT NULL DEFAULT '';
