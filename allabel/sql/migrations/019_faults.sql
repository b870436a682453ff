-- The reader role reads the bi views and nothing else: no temporary tables either.
-- TEMP on a database is PUBLIC's by default, so revoking it from allabel_reader alone would
-- change nothing; it is revoked from PUBLIC on this database and granted back to the role that
-- runs the migrations (the jobs' role; the database owner keeps it in any case). allabel's own
-- jobs use no temporary tables. On a shared external database another role that needs TEMP
-- there gets it back with: GRANT TEMPORARY ON DATABASE <db> TO <role>.
-- Database privileges are not copied by CREATE DATABASE ... TEMPLATE: a clone of a migrated
-- database needs this file run again (`allabel init` does nothing there; run it by hand).
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(), current_user);
    -- Postgres < 15 lets PUBLIC create in schema public; the reader must not
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
END $$;
-- a role is the server's: commenting on it needs CREATEROLE, which a migrating role on an
-- external server may lack (then the comment is left out; the rights above are what matter)
DO $$
BEGIN
    COMMENT ON ROLE allabel_reader IS 'Read-only BI role: SELECT on the bi views and EXECUTE on bi.bm25(); no rights on schema allabel, no temporary tables, no CREATE anywhere.';
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'allabel_reader keeps its comment: no right to comment on roles';
END $$;
