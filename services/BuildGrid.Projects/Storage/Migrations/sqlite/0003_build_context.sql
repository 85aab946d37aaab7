-- A project's build context (where copy-file steps copy from): the BuildContext message as JSON, '' for none.
ALTER TABLE projects ADD COLUMN build_context TEXT NOT NULL DEFAULT '';
