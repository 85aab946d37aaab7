-- How the worker isolated the current attempt (a RunSandbox as JSON: executor, network, uid, limits, limits_enforced).
ALTER TABLE runs ADD sandbox NVARCHAR(1000) NOT NULL DEFAULT '';
