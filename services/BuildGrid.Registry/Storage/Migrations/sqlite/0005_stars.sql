-- Quay's stars: which users starred which repositories (POST /api/v1/user/starred, GET /api/v1/repository?starred=true).
-- A star names its user as the identity's principal name; deleting a repository deletes its stars in the same transaction.
CREATE TABLE repository_stars (
    user_name     TEXT    NOT NULL,
    repository_id INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (user_name, repository_id)
);
CREATE INDEX ix_repository_stars_repository ON repository_stars (repository_id);
