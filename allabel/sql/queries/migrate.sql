-- Queries of allabel/migrate.py: checks before and after Alembic runs the files of sql/.

-- name: extension_available
SELECT 1 AS ok FROM pg_available_extensions WHERE name = %(name)s;

-- name: extension_installed
SELECT 1 AS ok FROM pg_extension WHERE extname = %(name)s;

-- name: version_table
SELECT to_regclass('public.alembic_version') AS version_table;

-- name: version
SELECT version_num FROM public.alembic_version;
