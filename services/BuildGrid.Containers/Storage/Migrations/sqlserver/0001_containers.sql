-- Ids are UUID strings chosen by the service. Names compare exactly (BIN2, as SQLite's BINARY); the unique indexes decide races.
CREATE TABLE projects (
    id                  VARCHAR(36)   NOT NULL PRIMARY KEY,
    name                NVARCHAR(255) COLLATE Latin1_General_100_BIN2 NOT NULL,
    review_with_comment INT           NOT NULL DEFAULT 0,
    created_at          BIGINT        NOT NULL,
    updated_at          BIGINT        NOT NULL
);
CREATE UNIQUE INDEX ux_projects_name ON projects (name) INCLUDE (review_with_comment, created_at, updated_at);

CREATE TABLE branches (
    id         VARCHAR(36)   NOT NULL PRIMARY KEY,
    project_id VARCHAR(36)   NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       NVARCHAR(255) COLLATE Latin1_General_100_BIN2 NOT NULL,
    created_at BIGINT        NOT NULL,
    updated_at BIGINT        NOT NULL
);
CREATE UNIQUE INDEX ux_branches_project_name ON branches (project_id, name) INCLUDE (created_at, updated_at);
CREATE INDEX ix_branches_name ON branches (name, id) INCLUDE (project_id, created_at, updated_at);

CREATE TABLE project_groups (
    id         VARCHAR(36)   NOT NULL PRIMARY KEY,
    name       NVARCHAR(255) COLLATE Latin1_General_100_BIN2 NOT NULL,
    created_at BIGINT        NOT NULL,
    updated_at BIGINT        NOT NULL
);
CREATE UNIQUE INDEX ux_project_groups_name ON project_groups (name) INCLUDE (created_at, updated_at);

CREATE TABLE project_group_members (
    project_group_id VARCHAR(36) NOT NULL REFERENCES project_groups (id) ON DELETE CASCADE,
    project_id       VARCHAR(36) NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_at       BIGINT      NOT NULL,
    PRIMARY KEY (project_group_id, project_id)
);
CREATE INDEX ix_project_group_members_project ON project_group_members (project_id, project_group_id);

CREATE TABLE snapshots (
    id           VARCHAR(36)   NOT NULL PRIMARY KEY,
    branch_id    VARCHAR(36)   NOT NULL REFERENCES branches (id) ON DELETE CASCADE,
    name         NVARCHAR(255) COLLATE Latin1_General_100_BIN2 NOT NULL,
    created_at   BIGINT        NOT NULL,
    updated_at   BIGINT        NOT NULL,
    build_run_id NVARCHAR(128) NOT NULL DEFAULT '',
    commit_sha   NVARCHAR(128) NOT NULL DEFAULT '',
    image_digest NVARCHAR(255) NOT NULL DEFAULT '',
    metadata     NVARCHAR(MAX) NOT NULL DEFAULT '{}'
);
CREATE INDEX ix_snapshots_branch_name ON snapshots (branch_id, name, id);
