-- The last finished build of a project, kept from buildgrid.build.finished events (Projects never calls Builds).
ALTER TABLE projects ADD COLUMN last_build_run_id TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN last_build_status TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN last_build_tag TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN last_build_digest TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN last_build_at INTEGER NOT NULL DEFAULT 0;
