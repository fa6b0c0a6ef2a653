-- include: base
-- include: invoices
-- expect: policy-not-tenant-scoped public.invoices
-- leak: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY context_set ON invoices USING (current_setting('app.current_tenant', true) IS NOT NULL AND current_setting('app.current_tenant', true) <> '');
