-- = ANY (ARRAY[ctx]) is one tenant, not many.
-- include: base
-- include: invoices
-- forbid: policy-not-tenant-scoped
-- clean
-- isolated: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY one_of ON invoices USING (tenant_id = ANY (ARRAY[(SELECT current_setting('app.current_tenant', true)::uuid)]));
