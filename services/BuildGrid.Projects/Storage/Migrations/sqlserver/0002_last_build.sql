-- The last finished build of a project, kept from buildgrid.build.finished events (Projects never calls Builds).
ALTER TABLE projects ADD
    last_build_run_id VARCHAR(40)   NOT NULL DEFAULT '',
    last_build_status VARCHAR(16)   NOT NULL DEFAULT '',
    last_build_tag    NVARCHAR(128) NOT NULL DEFAULT '',
    last_build_digest VARCHAR(100)  NOT NULL DEFAULT '',
    last_build_at     BIGINT        NOT NULL DEFAULT 0;
