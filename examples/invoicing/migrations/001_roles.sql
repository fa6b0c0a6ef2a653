-- Roles are cluster-wide, so create them only when missing (one cluster, many databases).
-- invoicing_owner owns every object and cannot log in; invoicing_app is what the service
-- logs in as and only has DML grants; invoicing_jobs_dispatch (no login) owns the one
-- function that lists queued job ids across tenants for the worker.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'invoicing_owner') THEN
    CREATE ROLE invoicing_owner NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'invoicing_app') THEN
    CREATE ROLE invoicing_app LOGIN PASSWORD 'invoicing-dev-password'
      NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'invoicing_jobs_dispatch') THEN
    CREATE ROLE invoicing_jobs_dispatch NOLOGIN BYPASSRLS;
  END IF;
END $$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CREATE, USAGE ON SCHEMA public TO invoicing_owner;
GRANT USAGE ON SCHEMA public TO invoicing_app, invoicing_jobs_dispatch;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
