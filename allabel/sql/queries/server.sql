-- Queries of allabel/server.py (the embedded server).

-- name: ping
SELECT 1;

-- name: scram_passwords
SET password_encryption = 'scram-sha-256';

-- name: set_password
-- a psycopg.sql template: its one placeholder is filled with sql.Literal(password), never by string formatting
ALTER ROLE postgres PASSWORD {};
