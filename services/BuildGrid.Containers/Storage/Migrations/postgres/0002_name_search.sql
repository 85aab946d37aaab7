-- Keeps the schema versions of the providers aligned with sqlite/0002_name_search.sql; deliberately changes nothing.
-- A name filter is "name ILIKE '%x%'" here, read along the name index in page order (see ContainerStore.Filters); a
-- pg_trgm GIN index would answer rare substrings faster but needs an extension this migration does not assume.
SELECT 1;
