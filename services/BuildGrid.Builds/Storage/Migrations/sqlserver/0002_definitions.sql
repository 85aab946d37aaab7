-- Build definitions, templates and code hosts. Each row keeps its whole resource as proto JSON (credential values
-- inside are encrypted with ASP.NET Data Protection); the columns are what queries need. A template-made build
-- references its template (NULL for other builds), so a template in use cannot be deleted, nor a build made from a
-- deleted one.
CREATE TABLE build_templates (
    name        NVARCHAR(128) PRIMARY KEY,
    template    NVARCHAR(MAX) NOT NULL,
    update_by   NVARCHAR(64)  NOT NULL,
    update_time BIGINT        NOT NULL,
    create_time BIGINT        NOT NULL
);

CREATE TABLE build_definitions (
    project_key   NVARCHAR(64)  NOT NULL,
    name          NVARCHAR(128) NOT NULL,
    template_name NVARCHAR(128) NULL REFERENCES build_templates (name),
    definition    NVARCHAR(MAX) NOT NULL,
    update_by     NVARCHAR(64)  NOT NULL,
    update_time   BIGINT        NOT NULL,
    create_time   BIGINT        NOT NULL,
    PRIMARY KEY (project_key, name)
);
CREATE INDEX ix_build_definitions_template ON build_definitions (template_name);

CREATE TABLE code_hosts (
    name        NVARCHAR(128) PRIMARY KEY,
    code_host   NVARCHAR(MAX) NOT NULL,
    update_time BIGINT        NOT NULL,
    create_time BIGINT        NOT NULL
);
