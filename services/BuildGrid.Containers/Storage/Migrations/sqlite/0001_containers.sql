-- Ids are UUID strings chosen by the service. Names compare exactly (BINARY); the unique indexes decide races.
CREATE TABLE projects (
    id                  TEXT    NOT NULL PRIMARY KEY,
    name                TEXT    NOT NULL,
    review_with_comment INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX ux_projects_name ON projects (name);

CREATE TABLE branches (
    id         TEXT    NOT NULL PRIMARY KEY,
    project_id TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
-- A project's branches by name (and the foreign key's index); every branch by name, then id.
CREATE UNIQUE INDEX ux_branches_project_name ON branches (project_id, name);
CREATE INDEX ix_branches_name ON branches (name, id);

CREATE TABLE project_groups (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX ux_project_groups_name ON project_groups (name);

-- The primary key makes a membership unique; removing a project or a group removes its memberships.
CREATE TABLE project_group_members (
    project_group_id TEXT    NOT NULL REFERENCES project_groups (id) ON DELETE CASCADE,
    project_id       TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (project_group_id, project_id)
) WITHOUT ROWID;
CREATE INDEX ix_project_group_members_project ON project_group_members (project_id, project_group_id);

CREATE TABLE snapshots (
    id           TEXT    NOT NULL PRIMARY KEY,
    branch_id    TEXT    NOT NULL REFERENCES branches (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    build_run_id TEXT    NOT NULL DEFAULT '',
    commit_sha   TEXT    NOT NULL DEFAULT '',
    image_digest TEXT    NOT NULL DEFAULT '',
    metadata     TEXT    NOT NULL DEFAULT '{}'
) WITHOUT ROWID;
CREATE INDEX ix_snapshots_branch_name ON snapshots (branch_id, name, id);
