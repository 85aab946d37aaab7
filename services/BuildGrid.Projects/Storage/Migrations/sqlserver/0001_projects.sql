CREATE TABLE projects (
    id              BIGINT IDENTITY(1,1) PRIMARY KEY,
    name            NVARCHAR(64)  COLLATE Latin1_General_100_CI_AS NOT NULL,
    cluster         NVARCHAR(64)  NOT NULL,
    dockerfile_type INT           NOT NULL,
    dockerfile      NVARCHAR(MAX) NOT NULL DEFAULT '',
    plugins         NVARCHAR(MAX) NOT NULL DEFAULT '[]',
    creator         NVARCHAR(64)  NOT NULL,
    created_at      BIGINT        NOT NULL,
    updated_at      BIGINT        NOT NULL,
    update_operator NVARCHAR(64)  NOT NULL,
    version         BIGINT        NOT NULL
);
CREATE UNIQUE INDEX ux_projects_name ON projects (name);
