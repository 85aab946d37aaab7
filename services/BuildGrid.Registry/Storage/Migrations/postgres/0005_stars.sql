CREATE TABLE repository_stars (
    user_name     TEXT   NOT NULL,
    repository_id BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (user_name, repository_id)
);
CREATE INDEX ix_repository_stars_repository ON repository_stars (repository_id);
