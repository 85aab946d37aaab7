-- Substring search over container names ("list" with a name filter) through FTS5 trigram indexes, so that a filter of
-- three or more characters looks up the names that contain it instead of reading every name. The containers' tables
-- are WITHOUT ROWID with UUID keys, and an FTS5 row is addressed by an integer rowid: name_search_docs gives each
-- container that integer (doc), and the FTS5 row of a container has rowid = its doc.
-- One FTS5 table per kind, so that a filter on project groups never walks the matching branches (30,000 branches
-- against 200 groups in the benchmark). The FTS5 tables keep their own copy of the names (not external content: the
-- content tables have no integer key), which is what lets the triggers delete a row by rowid alone.
-- case_sensitive 0 folds Unicode case, a superset of LIKE's ASCII folding: the store still applies its exact
-- LIKE to the rows found, so results stay those of LIKE.
-- Triggers keep all of it in the writer's transaction; foreign-key cascades (a project's branches) fire them too.
CREATE TABLE name_search_docs (
    doc  INTEGER NOT NULL PRIMARY KEY,
    kind TEXT    NOT NULL,
    id   TEXT    NOT NULL,
    UNIQUE (kind, id)
);
CREATE VIRTUAL TABLE projects_name_search USING fts5 (name, tokenize = 'trigram case_sensitive 0');
CREATE VIRTUAL TABLE branches_name_search USING fts5 (name, tokenize = 'trigram case_sensitive 0');
CREATE VIRTUAL TABLE project_groups_name_search USING fts5 (name, tokenize = 'trigram case_sensitive 0');

-- Backfill what 0001 stored.
INSERT INTO name_search_docs (kind, id) SELECT 'project', id FROM projects;
INSERT INTO name_search_docs (kind, id) SELECT 'branch', id FROM branches;
INSERT INTO name_search_docs (kind, id) SELECT 'project-group', id FROM project_groups;
INSERT INTO projects_name_search (rowid, name)
    SELECT d.doc, p.name FROM name_search_docs d JOIN projects p ON p.id = d.id WHERE d.kind = 'project';
INSERT INTO branches_name_search (rowid, name)
    SELECT d.doc, b.name FROM name_search_docs d JOIN branches b ON b.id = d.id WHERE d.kind = 'branch';
INSERT INTO project_groups_name_search (rowid, name)
    SELECT d.doc, g.name FROM name_search_docs d JOIN project_groups g ON g.id = d.id WHERE d.kind = 'project-group';

-- last_insert_rowid() inside a trigger is the rowid its own previous INSERT gave.
CREATE TRIGGER projects_name_search_insert AFTER INSERT ON projects BEGIN
    INSERT INTO name_search_docs (kind, id) VALUES ('project', new.id);
    INSERT INTO projects_name_search (rowid, name) VALUES (last_insert_rowid(), new.name);
END;
CREATE TRIGGER projects_name_search_update AFTER UPDATE OF name ON projects BEGIN
    UPDATE projects_name_search SET name = new.name
    WHERE rowid = (SELECT doc FROM name_search_docs WHERE kind = 'project' AND id = old.id);
END;
CREATE TRIGGER projects_name_search_delete AFTER DELETE ON projects BEGIN
    DELETE FROM projects_name_search WHERE rowid = (SELECT doc FROM name_search_docs WHERE kind = 'project' AND id = old.id);
    DELETE FROM name_search_docs WHERE kind = 'project' AND id = old.id;
END;

CREATE TRIGGER branches_name_search_insert AFTER INSERT ON branches BEGIN
    INSERT INTO name_search_docs (kind, id) VALUES ('branch', new.id);
    INSERT INTO branches_name_search (rowid, name) VALUES (last_insert_rowid(), new.name);
END;
CREATE TRIGGER branches_name_search_update AFTER UPDATE OF name ON branches BEGIN
    UPDATE branches_name_search SET name = new.name
    WHERE rowid = (SELECT doc FROM name_search_docs WHERE kind = 'branch' AND id = old.id);
END;
CREATE TRIGGER branches_name_search_delete AFTER DELETE ON branches BEGIN
    DELETE FROM branches_name_search WHERE rowid = (SELECT doc FROM name_search_docs WHERE kind = 'branch' AND id = old.id);
    DELETE FROM name_search_docs WHERE kind = 'branch' AND id = old.id;
END;

CREATE TRIGGER project_groups_name_search_insert AFTER INSERT ON project_groups BEGIN
    INSERT INTO name_search_docs (kind, id) VALUES ('project-group', new.id);
    INSERT INTO project_groups_name_search (rowid, name) VALUES (last_insert_rowid(), new.name);
END;
CREATE TRIGGER project_groups_name_search_update AFTER UPDATE OF name ON project_groups BEGIN
    UPDATE project_groups_name_search SET name = new.name
    WHERE rowid = (SELECT doc FROM name_search_docs WHERE kind = 'project-group' AND id = old.id);
END;
CREATE TRIGGER project_groups_name_search_delete AFTER DELETE ON project_groups BEGIN
    DELETE FROM project_groups_name_search WHERE rowid = (SELECT doc FROM name_search_docs WHERE kind = 'project-group' AND id = old.id);
    DELETE FROM name_search_docs WHERE kind = 'project-group' AND id = old.id;
END;
