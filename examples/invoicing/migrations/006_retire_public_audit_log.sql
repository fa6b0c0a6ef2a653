-- The service now writes its events through audit.record() (005, tenantguard-runtime's
-- TenantTx::audit) and the capture triggers; public.audit_log from 003 is retired.
-- Events already in it move into audit.log with their original time (the sealer chains
-- them like any other unsealed row), then the old table and its guard function go.
-- Runs as a superuser, like every migration here; on an empty database it moves nothing.
BEGIN;

DO $$
BEGIN
  IF to_regclass('public.audit_log') IS NOT NULL THEN
    INSERT INTO audit.log (tenant_id, actor, action, entity, old_value, new_value, at)
    SELECT tenant_id::text, actor, action, entity, old_value, new_value, "timestamp"
    FROM public.audit_log
    ORDER BY "timestamp", id;
  END IF;
END $$;

DROP TABLE IF EXISTS public.audit_log;
DROP FUNCTION IF EXISTS public.audit_log_is_append_only();

COMMIT;
