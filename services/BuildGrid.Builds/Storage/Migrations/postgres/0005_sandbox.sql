-- How the worker isolated the current attempt (a RunSandbox as JSON: executor, network, uid, limits, limits_enforced).
ALTER TABLE runs ADD COLUMN sandbox TEXT NOT NULL DEFAULT '';
