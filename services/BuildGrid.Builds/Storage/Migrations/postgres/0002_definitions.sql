CREATE TABLE build_templates (
    name        TEXT   PRIMARY KEY,
    template    TEXT   NOT NULL,
    update_by   TEXT   NOT NULL,
    update_time BIGINT NOT NULL,
    create_time BIGINT NOT NULL
);

CREATE TABLE build_definitions (
    project_key   TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    template_name TEXT   NULL REFERENCES build_templates (name),
    definition    TEXT   NOT NULL,
    update_by     TEXT   NOT NULL,
    update_time   BIGINT NOT NULL,
    create_time   BIGINT NOT NULL,
    PRIMARY KEY (project_key, name)
);
CREATE INDEX ix_build_definitions_template ON build_definitions (template_name);

CREATE TABLE code_hosts (
    name        TEXT   PRIMARY KEY,
    code_host   TEXT   NOT NULL,
    update_time BIGINT NOT NULL,
    create_time BIGINT NOT NULL
);
