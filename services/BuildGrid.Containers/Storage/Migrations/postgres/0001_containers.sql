-- See the sqlite migration. Names sort in byte order (COLLATE "C"), as the keyset pages of the lists expect.
CREATE TABLE projects (
    id                  TEXT    NOT NULL PRIMARY KEY,
    name                TEXT    COLLATE "C" NOT NULL,
    review_with_comment INTEGER NOT NULL DEFAULT 0 CHECK (review_with_comment IN (0, 1)),
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL
);
CREATE UNIQUE INDEX ux_projects_name ON projects (name);

CREATE TABLE branches (
    id         TEXT   NOT NULL PRIMARY KEY,
    project_id TEXT   NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT   COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_branches_project_name ON branches (project_id, name);
CREATE INDEX ix_branches_name ON branches (name, id);

CREATE TABLE project_groups (
    id         TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_project_groups_name ON project_groups (name);

CREATE TABLE project_group_members (
    project_group_id TEXT   NOT NULL REFERENCES project_groups (id) ON DELETE CASCADE,
    project_id       TEXT   NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (project_group_id, project_id)
);
CREATE INDEX ix_project_group_members_project ON project_group_members (project_id, project_group_id);

CREATE TABLE snapshots (
    id           TEXT   NOT NULL PRIMARY KEY,
    branch_id    TEXT   NOT NULL REFERENCES branches (id) ON DELETE CASCADE,
    name         TEXT   COLLATE "C" NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    build_run_id TEXT   NOT NULL DEFAULT '',
    commit_sha   TEXT   NOT NULL DEFAULT '',
    image_digest TEXT   NOT NULL DEFAULT '',
    metadata     TEXT   NOT NULL DEFAULT '{}'
);
CREATE INDEX ix_snapshots_branch_name ON snapshots (branch_id, name, id);
