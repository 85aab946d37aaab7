-- Build definitions, templates and code hosts. Each row keeps its whole resource as proto JSON (credential values
-- inside are encrypted with ASP.NET Data Protection); the columns are what queries need. A template-made build
-- references its template (NULL for other builds), so a template in use cannot be deleted, nor a build made from a
-- deleted one.
CREATE TABLE build_templates (
    name        TEXT    PRIMARY KEY,
    template    TEXT    NOT NULL,
    update_by   TEXT    NOT NULL,
    update_time INTEGER NOT NULL,
    create_time INTEGER NOT NULL
);

CREATE TABLE build_definitions (
    project_key   TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    template_name TEXT    NULL REFERENCES build_templates (name),
    definition    TEXT    NOT NULL,
    update_by     TEXT    NOT NULL,
    update_time   INTEGER NOT NULL,
    create_time   INTEGER NOT NULL,
    PRIMARY KEY (project_key, name)
);
CREATE INDEX ix_build_definitions_template ON build_definitions (template_name);

CREATE TABLE code_hosts (
    name        TEXT    PRIMARY KEY,
    code_host   TEXT    NOT NULL,
    update_time INTEGER NOT NULL,
    create_time INTEGER NOT NULL
);
