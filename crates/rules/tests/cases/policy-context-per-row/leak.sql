-- include: base
-- include: invoices
-- expect: policy-context-per-row public.invoices
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY tenant_isolation ON invoices USING (tenant_id = current_setting('app.current_tenant', true)::uuid);
