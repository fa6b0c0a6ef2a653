-- Forced RLS on every tenant table. The context is read once per statement thanks to the
-- (select ...) wrapper, and a missing context means NULL, which matches no row.
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['tenants', 'users', 'customers', 'invoices', 'invoice_lines',
                           'invoice_exports', 'audit_log', 'jobs'] LOOP
    EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', t);
  END LOOP;
  FOREACH t IN ARRAY ARRAY['tenants', 'users', 'customers', 'invoices', 'invoice_lines',
                           'invoice_exports', 'jobs'] LOOP
    EXECUTE format($p$CREATE POLICY tenant_isolation ON public.%I
      USING (tenant_id = (select current_setting('app.current_tenant', true)::uuid))
      WITH CHECK (tenant_id = (select current_setting('app.current_tenant', true)::uuid))$p$, t);
  END LOOP;
END $$;

-- The audit log can only be read and appended to, each within the tenant.
CREATE POLICY tenant_read ON audit_log FOR SELECT
  USING (tenant_id = (select current_setting('app.current_tenant', true)::uuid));
CREATE POLICY tenant_append ON audit_log FOR INSERT
  WITH CHECK (tenant_id = (select current_setting('app.current_tenant', true)::uuid));

GRANT SELECT ON plans TO invoicing_app;
GRANT SELECT, INSERT, UPDATE ON tenants TO invoicing_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, customers, invoices, invoice_lines, invoice_exports TO invoicing_app;
GRANT SELECT, INSERT, UPDATE ON jobs TO invoicing_app;
GRANT SELECT, INSERT ON audit_log TO invoicing_app;
GRANT USAGE ON SEQUENCE jobs_id_seq, audit_log_id_seq TO invoicing_app;
