-- Repository names up to 511 characters (a 255-character Quay namespace, '/', a 255-character Quay repository); the
-- other providers store names as TEXT. Indexed columns lose their index while they widen.
DROP INDEX ux_repositories_name ON repositories;
ALTER TABLE repositories ALTER COLUMN name VARCHAR(511) COLLATE Latin1_General_100_BIN2 NOT NULL;
CREATE UNIQUE INDEX ux_repositories_name ON repositories (name);

ALTER TABLE uploads ALTER COLUMN repository VARCHAR(511) COLLATE Latin1_General_100_BIN2 NOT NULL;

DROP INDEX ix_repository_notifications_repository ON repository_notifications;
ALTER TABLE repository_notifications ALTER COLUMN repository NVARCHAR(511) NOT NULL;
CREATE INDEX ix_repository_notifications_repository ON repository_notifications (repository, event);

ALTER TABLE notification_build_runs ALTER COLUMN repository NVARCHAR(511) NOT NULL;
