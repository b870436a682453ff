-- Queries of allabel/server.py (the embedded server).

-- name: ping
SELECT 1;

-- name: scram_passwords
SET password_encryption = 'scram-sha-256';

-- name: set_password
-- a psycopg.sql template: its one placeholder is filled with sql.Literal(password), never by string formatting
ALTER ROLE postgres PASSWORD {};

-- name: ensure_reader_role
-- the BI role as sql/007_bi.sql creates it (roles are per server: made here before a migration
-- when `db start --listen` comes first)
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'allabel_reader') THEN
        CREATE ROLE allabel_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
END $$;

-- name: set_reader_password
-- a psycopg.sql template: its one placeholder is filled with sql.Literal(password), never by string formatting
ALTER ROLE allabel_reader PASSWORD {};
