-- include: base
-- include: invoices
-- expect: policy-not-tenant-scoped public.invoices
-- leak: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY mine_or_big ON invoices USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid) OR total > 15);
