-- include: base
-- include: invoices
-- expect: policy-not-tenant-scoped public.invoices
-- leak: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY open_read ON invoices USING (true);
