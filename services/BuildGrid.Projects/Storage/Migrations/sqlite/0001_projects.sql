CREATE TABLE projects (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL COLLATE NOCASE,
    cluster         TEXT    NOT NULL,
    dockerfile_type INTEGER NOT NULL,
    dockerfile      TEXT    NOT NULL DEFAULT '',
    plugins         TEXT    NOT NULL DEFAULT '[]',
    creator         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    update_operator TEXT    NOT NULL,
    version         INTEGER NOT NULL
);
-- Names are unique without regard to case: they become image repository names, which are lower case.
CREATE UNIQUE INDEX ux_projects_name ON projects (name);
