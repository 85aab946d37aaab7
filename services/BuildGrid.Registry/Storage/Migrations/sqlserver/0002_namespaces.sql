-- Namespaces: the first component of repository names (an image-market cluster, a Harbor project). Their ids are the
-- Harbor API's project_id; default_cluster always exists, as id 1.
CREATE TABLE namespaces (
    id         BIGINT IDENTITY(1,1) PRIMARY KEY,
    name       NVARCHAR(255) NOT NULL,
    is_public  INT           NOT NULL DEFAULT 0,
    created_at BIGINT        NOT NULL,
    updated_at BIGINT        NOT NULL
);
CREATE UNIQUE INDEX ux_namespaces_name ON namespaces (name);

INSERT INTO namespaces (name, is_public, created_at, updated_at)
VALUES ('default_cluster', 1, DATEDIFF_BIG(millisecond, '1970-01-01', SYSUTCDATETIME()), DATEDIFF_BIG(millisecond, '1970-01-01', SYSUTCDATETIME()));

INSERT INTO namespaces (name, is_public, created_at, updated_at)
SELECT LEFT(name, CHARINDEX('/', name) - 1), 0, MIN(created_at), MAX(updated_at)
FROM repositories
WHERE CHARINDEX('/', name) > 1 AND LEFT(name, CHARINDEX('/', name) - 1) <> 'default_cluster'
GROUP BY LEFT(name, CHARINDEX('/', name) - 1);
