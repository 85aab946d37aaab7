-- Namespaces: the first component of repository names (an image-market cluster, a Harbor project). Their ids are the
-- Harbor API's project_id; default_cluster always exists, as id 1.
CREATE TABLE namespaces (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    is_public  INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX ux_namespaces_name ON namespaces (name);

INSERT INTO namespaces (name, is_public, created_at, updated_at)
VALUES ('default_cluster', 1, CAST(strftime('%s', 'now') AS INTEGER) * 1000, CAST(strftime('%s', 'now') AS INTEGER) * 1000);

INSERT INTO namespaces (name, is_public, created_at, updated_at)
SELECT substr(name, 1, instr(name, '/') - 1), 0, MIN(created_at), MAX(updated_at)
FROM repositories
WHERE instr(name, '/') > 1 AND substr(name, 1, instr(name, '/') - 1) <> 'default_cluster'
GROUP BY substr(name, 1, instr(name, '/') - 1);
