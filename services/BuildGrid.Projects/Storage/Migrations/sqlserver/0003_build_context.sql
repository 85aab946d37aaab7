-- See the sqlite migration.
ALTER TABLE projects ADD build_context NVARCHAR(MAX) NOT NULL DEFAULT '';
