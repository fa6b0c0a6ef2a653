SET ROLE invoicing_owner;

-- Append-only audit log: written in the same transaction as the change it records.
CREATE TABLE audit_log (
  tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
  id bigserial NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  entity text NOT NULL,
  old_value jsonb,
  new_value jsonb,
  "timestamp" timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
-- ALWAYS: the triggers fire even under session_replication_role = replica.
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_update_delete;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;

-- Job outbox: inserted in the request's transaction, run in the tenant's transaction.
CREATE TABLE jobs (
  tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
  id bigserial NOT NULL,
  kind text NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}',
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'done', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  done_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);

RESET ROLE;

-- The worker's only cross-tenant read: ids of queued jobs, never their payload. Owned by
-- the no-login dispatch role, which can read just these three columns of jobs.
GRANT SELECT (tenant_id, id, status) ON jobs TO invoicing_jobs_dispatch;
CREATE FUNCTION job_candidates(p_limit bigint)
RETURNS TABLE (job_id bigint, tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT j.id, j.tenant_id FROM public.jobs j
  WHERE j.status = 'queued' ORDER BY j.id LIMIT least(p_limit, 100)
$$;
ALTER FUNCTION job_candidates(bigint) OWNER TO invoicing_jobs_dispatch;
REVOKE ALL ON FUNCTION job_candidates(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION job_candidates(bigint) TO invoicing_app;
